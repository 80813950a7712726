"""The demo city (`gridwatch seed-demo`): depends on everything; nothing depends on it."""
