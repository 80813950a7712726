"""Rankings and the monthly bulletin (月度通报, SPEC §5–6): the indicators of
app/domain/supervision/indicators.py per unit over a period, set against the previous period,
as the /stats page, the indicators API and their downloads show them."""
