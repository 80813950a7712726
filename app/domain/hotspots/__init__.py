"""Hotspots (SPEC §4): the case loop, who may open and work a case, the source ledger."""
