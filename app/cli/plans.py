"""`plan`: an inspector's plan of the day as a printed route sheet."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from app.cli.common import app, fail, out, transaction

KIND = {"cell": "网格", "source": "污染源"}
SHEET_WIDTH = 150  # printed to a file or a printer: wide enough for names, not cut at 80


def countdown(left: timedelta | None) -> str:
    """In the inspectors' words, as on the phone: whole minutes, rounded down (a stop due in
    1 h 59 min 40 s says 1 h 59 min, never more time than there is)."""
    if left is None:
        return "从未巡查"
    minutes = int(abs(left).total_seconds() // 60)
    h, m = minutes // 60, minutes % 60
    return f"已超期 {h} 小时 {m:02d} 分" if left <= timedelta(0) else f"{h} 小时 {m:02d} 分后到期"


@app.command("plan")
def plan(
    username: Annotated[str, typer.Argument(help="the inspector's username")],
    day: Annotated[
        str | None, typer.Option("--date", help="the day, YYYY-MM-DD (default today)")
    ] = None,
) -> None:
    """Print USER's plan of the day: the cells and ledger sources due before the day ends,
    overdue first, in walking order — the same plan as the phone's 今日待巡."""
    from app.domain.supervision.dayplan import day_plan, person_named
    from app.domain.timeparse import local_zone

    try:
        wanted = date.fromisoformat(day) if day else None
    except ValueError:
        fail(f"--date: {day!r} is not a date (YYYY-MM-DD)")
    with transaction() as session:
        found = day_plan(session, person_named(session, username), day=wanted)
    zone = local_zone()
    table = Table(title=f"{found.name} ({found.username}) · {found.day.isoformat()}")
    headings = ("序号", "类型", "名称", "网格", "到期", "倒计时", "步行(米)")
    for heading in headings:
        table.add_column(
            heading,
            justify="right" if heading in ("序号", "步行(米)") else "left",
            no_wrap=heading in ("网格", "到期"),
        )
    for stop in found.stops:
        item = stop.item
        due = item.due_at.astimezone(zone).strftime("%m-%d %H:%M") if item.due_at else "—"
        table.add_row(
            str(stop.order),
            KIND.get(item.kind, item.kind),
            item.name,
            item.cell_code,
            due,
            countdown(item.due_at - found.now if item.due_at else None),
            str(round(stop.leg_m)),
        )
    if found.stops:
        sheet = out if out.is_terminal else Console(width=SHEET_WIDTH, markup=False)
        sheet.print(table)
    overdue = sum(1 for s in found.stops if s.item.overdue(found.now))
    # Chinese like the table, then the same in English.
    km = f"{found.route_m / 1000:.2f}"
    more_zh = "（到期的还有更多，一份计划放不下）" if found.truncated else ""
    more = " (more were due than one plan holds)" if found.truncated else ""
    out.print(
        f"{found.username} {found.day.isoformat()} 今日待巡：共 {len(found.stops)} 处，"
        f"超期 {overdue} 处，步行约 {km} 公里{more_zh}\n"
        f"plan for {found.username} on {found.day.isoformat()}: {len(found.stops)} stop(s), "
        f"{overdue} overdue, {km} km on foot{more}",
        highlight=False,
    )
