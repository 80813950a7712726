"""Per-cell summaries (`cell_status`) and the counted-patrol history (`cell_visits`), kept
current in the caller's transaction by every write that changes them. Gap queries read the
summaries; history queries read `cell_visits` by `(cell_id, observed_at)`.

The summaries are derived data: `rebuild_summaries` recomputes them from the facts (after a
bulk load that bypassed this module, or when a rule value changed), and `keep_rules_in_step`
keeps the rule values the database's own functions read equal to app/rules.py's."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app import rules
from app.db import json_param
from app.models import CellVisit, RuleValues

# The newest counted patrol of each of `cells`, from the history.
_RECOMPUTE_PATROLS = text("""
    INSERT INTO cell_status AS s (cell_id, last_patrol_at, last_patrol_by_id, updated_at)
    SELECT c.id, v.observed_at, v.person_id, now()
      FROM (SELECT DISTINCT x AS id FROM unnest(CAST(:cells AS bigint[])) x
             WHERE x IS NOT NULL) c
      LEFT JOIN LATERAL (SELECT observed_at, person_id FROM cell_visits
                          WHERE cell_id = c.id ORDER BY observed_at DESC LIMIT 1) v ON true
    ON CONFLICT (cell_id) DO UPDATE
       SET last_patrol_at = excluded.last_patrol_at,
           last_patrol_by_id = excluded.last_patrol_by_id, updated_at = now()
""")

# The open hotspots of each of `cells`, and the deadlines running (app/rules.py's sets).
_RECOMPUTE_HOTSPOTS = text("""
    INSERT INTO cell_status AS s (cell_id, open_hotspots, running_deadlines, next_deadline,
                                  updated_at)
    SELECT c.id,
           count(h.id) FILTER (WHERE h.status <> ALL (CAST(:finished_statuses AS text[]))),
           coalesce(array_agg(h.deadline ORDER BY h.deadline)
                    FILTER (WHERE h.status = ANY (CAST(:running_deadline_statuses AS text[]))
                              AND h.deadline IS NOT NULL), '{}'),
           min(h.deadline)
               FILTER (WHERE h.status = ANY (CAST(:running_deadline_statuses AS text[]))),
           now()
      FROM (SELECT DISTINCT x AS id FROM unnest(CAST(:cells AS bigint[])) x
             WHERE x IS NOT NULL) c
      LEFT JOIN hotspots h ON h.cell_id = c.id
     GROUP BY c.id
    ON CONFLICT (cell_id) DO UPDATE
       SET open_hotspots = excluded.open_hotspots,
           running_deadlines = excluded.running_deadlines,
           next_deadline = excluded.next_deadline, updated_at = now()
""")


# Counted patrols, any number in one statement: take the locks (gridwatch_lock_cells, all of
# them before any summary is touched: the scalar subquery reading `locked` runs first), append
# the patrols to the history and advance each cell's summary to its newest one. Of several
# patrols at the same instant in one cell, the first given is the one recorded as the last
# patrol (as if added one by one).
# `{visits}` is a query of the patrols: (n, cell_id, person_id, observed_at, geom, report_id,
# patrol_id); `add_visits_from` gives it another source than a JSON parameter.
_ADD_VISITS_FROM = """
    WITH visit AS MATERIALIZED ({visits}
    ), locked AS MATERIALIZED (
        SELECT gridwatch_lock_cells(array_agg(cell_id)) IS NOT NULL AS done FROM visit
    ), added AS (
        INSERT INTO cell_visits (cell_id, person_id, observed_at, geom, report_id, patrol_id)
        SELECT cell_id, person_id, observed_at, geom, report_id, patrol_id
          FROM visit ORDER BY n
    )
    INSERT INTO cell_status AS s (cell_id, last_patrol_at, last_patrol_by_id, updated_at)
    SELECT DISTINCT ON (cell_id) cell_id, observed_at, person_id, now()
      FROM visit
     WHERE (SELECT done FROM locked)
     ORDER BY cell_id, observed_at DESC, n
    ON CONFLICT (cell_id) DO UPDATE
       SET last_patrol_by_id = CASE WHEN s.last_patrol_at IS NULL OR excluded.last_patrol_at
                                         > s.last_patrol_at
                                    THEN excluded.last_patrol_by_id
                                    ELSE s.last_patrol_by_id END,
           last_patrol_at = GREATEST(s.last_patrol_at, excluded.last_patrol_at),
           updated_at = now()
"""
_ADD_VISITS = text(
    _ADD_VISITS_FROM.format(
        visits="""
        SELECT v.n, v.cell_id, v.person_id, v.observed_at, ST_GeomFromEWKT(v.geom) AS geom,
               v.report_id, v.patrol_id
          FROM json_to_recordset(CAST(:visits AS json))
               AS v(n bigint, cell_id bigint, person_id bigint, observed_at timestamptz,
                    geom text, report_id uuid, patrol_id uuid)"""
    )
)


def add_visits_from(session: Session, visits: str) -> None:
    """Counted patrols selected by `visits` (SQL with the columns of `_ADD_VISITS_FROM`, e.g.
    from a staging table): appended to the history and their cells' summaries advanced, as
    `record_visits` does."""
    session.execute(text(_ADD_VISITS_FROM.format(visits=visits)))


# Every write to a cell's summary first takes the cell's transaction-scoped lock, so two
# transactions never recompute it from snapshots that miss each other's rows. The protocol is
# the database's (app/sql/fn_lock_cells.sql, also used by its triggers): the summary lock
# shared, then each cell's lock in ascending id order (two writers of the same cells never
# wait on each other in a circle), or for many cells the summary lock alone, exclusively.
_LOCK_CELLS = text("SELECT gridwatch_lock_cells(CAST(:cells AS bigint[]))")


def lock_cells(session: Session, cell_ids: Sequence[int]) -> None:
    if cell_ids:
        session.execute(_LOCK_CELLS, {"cells": list(cell_ids)})


def lock_cell(session: Session, cell_id: int) -> None:
    lock_cells(session, [cell_id])


@dataclass(frozen=True, slots=True)
class Visit:
    """A counted patrol in a cell: a counted report, or a counted point of a GPS track."""

    cell_id: int
    person_id: int
    observed_at: datetime
    geom: str  # EWKT, e.g. "SRID=4326;POINT(113.9 35.3)"
    report_id: uuid.UUID | None = None
    patrol_id: uuid.UUID | None = None


def record_visits(session: Session, visits: Sequence[Visit]) -> None:
    """Counted patrols: append them to the history and advance their cells' summaries."""
    if not visits:
        return
    rows = [
        {
            "n": n,
            "cell_id": v.cell_id,
            "person_id": v.person_id,
            "observed_at": v.observed_at.isoformat(),
            "geom": v.geom,
            "report_id": None if v.report_id is None else str(v.report_id),
            "patrol_id": None if v.patrol_id is None else str(v.patrol_id),
        }
        for n, v in enumerate(visits, 1)
    ]
    session.execute(_ADD_VISITS, {"visits": json_param(rows)})


def record_visit(
    session: Session,
    *,
    cell_id: int,
    person_id: int,
    observed_at: datetime,
    geom: str,
    report_id: uuid.UUID | None = None,
    patrol_id: uuid.UUID | None = None,
) -> None:
    """A counted patrol in `cell_id`: append to the history, advance the summary."""
    record_visits(session, [Visit(cell_id, person_id, observed_at, geom, report_id, patrol_id)])


def remove_report_visits(session: Session, report_id: uuid.UUID) -> None:
    """A report stopped counting: drop its history rows and recompute the summary. The cells
    are locked before the rows go: deleting them locks the sources nearby (the trigger of
    app/sql/trg_cell_visits.sql), and intake takes the same locks in that order — cell, then
    sources."""
    cells = sorted(
        set(session.scalars(select(CellVisit.cell_id).where(CellVisit.report_id == report_id)))
    )
    lock_cells(session, cells)
    session.execute(delete(CellVisit).where(CellVisit.report_id == report_id))
    if cells:
        session.execute(_RECOMPUTE_PATROLS, {"cells": cells})


def refresh_hotspot_counts(session: Session, cell_id: int | None) -> None:
    if cell_id is not None:
        refresh_hotspot_counts_of(session, [cell_id])


def refresh_hotspot_counts_of(session: Session, cell_ids: Iterable[int]) -> None:
    """`refresh_hotspot_counts` of many cells in two statements (the locks in ascending order)."""
    cells = sorted(set(cell_ids))
    if cells:
        lock_cells(session, cells)
        session.execute(_RECOMPUTE_HOTSPOTS, {"cells": cells, **rules.params()})


# Every cell a summary is kept for: the leaves, and any other cell that has a summary row.
_SUMMARISED_CELLS = text("""
    SELECT id FROM cells WHERE is_leaf UNION SELECT cell_id FROM cell_status ORDER BY 1
""")
_REFRESH_STAFF = text("SELECT gridwatch_refresh_staff(CAST(:cells AS bigint[]))")
_REFRESH_MISSED = text("SELECT gridwatch_refresh_missed(CAST(:cells AS bigint[]))")
# The per-parent roll-up (app/sql/fn_refresh_rollup.sql) of every parent, or of `cells`'
# parents: noted, recomputed at commit. The triggers note them too, unless a bulk load had
# them off (session_replication_role = replica).
_TOUCH_ROLLUP = text("""
    SELECT gridwatch_rollup_touch_parents(ARRAY(
        SELECT DISTINCT coalesce(parent_id, 0) FROM cells
         WHERE is_leaf AND (CAST(:every AS boolean) OR id = ANY (CAST(:cells AS bigint[])))))
""")
_REFRESH_SOURCES = text("""
    SELECT gridwatch_refresh_inspection(ARRAY(
        SELECT id FROM sources
         WHERE CAST(:every AS boolean) OR cell_id = ANY (CAST(:cells AS bigint[]))
         ORDER BY id))
""")


def rebuild_summaries(session: Session, cells: Sequence[int] | None = None) -> None:
    """Recompute, set-wise, every summary of `cells` (None: of every cell, and every source)
    from what the database holds: the last counted patrol, open hotspots and running
    deadlines, staffing, missed problems, and the last inspection of the sources in those
    cells, and the per-parent roll-up of their parents (at commit). For a bulk load that
    wrote history without this module (the demo, the bench generator) and for a change of a
    rule value; the same statements as the writes use."""
    every = cells is None
    ids = list(session.scalars(_SUMMARISED_CELLS)) if cells is None else sorted(set(cells))
    lock_cells(session, ids)
    if ids:
        session.execute(_RECOMPUTE_PATROLS, {"cells": ids})
        session.execute(_RECOMPUTE_HOTSPOTS, {"cells": ids, **rules.params()})
        session.execute(_REFRESH_STAFF, {"cells": ids})
        session.execute(_REFRESH_MISSED, {"cells": ids})
    session.execute(_REFRESH_SOURCES, {"every": every, "cells": ids})
    session.execute(_TOUCH_ROLLUP, {"every": every, "cells": ids})


_RULES_TABLE = text("SELECT to_regclass('gridwatch_rules') IS NOT NULL")
_HELD_RULES = select(
    RuleValues.source_radius_m,
    RuleValues.missed_problem_days,
    RuleValues.leader_duties,
    RuleValues.member_duties,
    RuleValues.unfounded_statuses,
)


def keep_rules_in_step(session: Session) -> bool:
    """Make `gridwatch_rules` (the values the database's functions read: app/sql/fn_rules.sql)
    hold app/rules.py's values with this process's settings; when it held others, rebuild
    every summary, since they were computed with those. True when it did. Run by `gridwatch
    migrate`, after a restore and when the server starts; a database not yet migrated this
    far (no table) is left alone. In the caller's transaction.

    Several processes with different settings on one database would undo each other's values
    at each start: the settings belong to the deployment, not to one process."""
    if not session.scalar(_RULES_TABLE):
        return False
    wanted = rules.database_values()
    held = session.execute(_HELD_RULES).one_or_none()
    if held is not None and held._asdict() == wanted:
        return False
    session.execute(
        insert(RuleValues)
        .values(id=True, **wanted)
        .on_conflict_do_update(index_elements=["id"], set_={**wanted, "updated_at": func.now()})
    )
    rebuild_summaries(session)
    return True
