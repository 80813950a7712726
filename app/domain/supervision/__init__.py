"""Supervision (SPEC §5): per-cell summaries, gaps, lapses, coverage, indicators, spot checks,
map tiles."""
