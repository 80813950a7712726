"""`gridwatch seed-demo`: the demo city — Xinxiang's four urban districts (real boundaries,
GCJ-02 converted to WGS-84), synthetic streets and communities, ~500 m unit cells coded per
GB/T 30428.1, a roster with history (a few cells deliberately unstaffed), a pollution-source
ledger along the Wei River, and one login per role. Repeatable: a second run keeps the grid
and refreshes the demo logins."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.demo.activity import seed_activity, seed_sources
from app.demo.city import CITY_CODE, build_grid
from app.demo.people import DEMO_USERS, phone_number, seed_roster
from app.domain import audit
from app.domain.grid.cells import existing_cells, write_cells
from app.domain.people.accounts import create_or_update_user
from app.domain.progress import NoProgress, Progress


@dataclass
class SeedSummary:
    created: bool
    cells: int = 0
    unit_cells: int = 0
    persons: int = 0
    duties: int = 0
    sources: int = 0
    reports: int = 0
    hotspots: int = 0
    logins: list[tuple[str, str, str, str | None]] = field(default_factory=list)

    def describe(self) -> str:
        head = (
            f"demo city seeded: {self.cells} cells ({self.unit_cells} unit cells), "
            f"{self.persons} persons, {self.duties} duties, {self.sources} sources, "
            f"{self.reports} reports, {self.hotspots} hotspots"
            if self.created
            else "demo city already present; demo logins refreshed"
        )
        rows = [
            f"  {u:<11} password {p:<22} role {r}" + (f", scope {s}" if s else "")
            for u, p, r, s in self.logins
        ]
        return "\n".join([head, "demo logins:", *rows])


ANALYZED = ("cells", "persons", "duties", "sources", "reports", "cell_visits", "cell_status")


def seed(session: Session, progress: Progress | None = None) -> SeedSummary:
    progress = progress or NoProgress()
    summary = SeedSummary(created=not existing_cells(session, [CITY_CODE]))
    if summary.created:
        cells = build_grid()
        write_cells(session, cells, progress)
        summary.cells = len(cells)
        units = [c for c in cells if c.level == 5]
        summary.unit_cells = len(units)
        summary.persons, summary.duties = seed_roster(session, units, progress)
        summary.sources = seed_sources(session)
    for username, role, scope, name, password in DEMO_USERS:
        create_or_update_user(
            session,
            username=username,
            role=role,
            password=password,
            scope=scope,
            name=name,
            phone=phone_number(90000 + len(username)),
        )
        summary.logins.append((username, password, role, scope))
    if summary.created:  # after the logins: demo hotspots are filed by the demo users
        summary.reports, summary.hotspots = seed_activity(session, progress)
        audit.record(
            session,
            "demo.seed",
            "cell",
            CITY_CODE,
            after={
                "cells": summary.cells,
                "persons": summary.persons,
                "duties": summary.duties,
                "sources": summary.sources,
                "reports": summary.reports,
                "hotspots": summary.hotspots,
            },
        )
        # Fresh statistics for what was just bulk-loaded: until autovacuum gets round to it,
        # the planner believes these tables empty and picks plans that take seconds.
        for table in ANALYZED:
            session.execute(text(f"ANALYZE {table}"))
    return summary
