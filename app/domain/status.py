"""Per-cell summaries (`cell_status`) and the counted-patrol history (`cell_visits`), kept
current in the caller's transaction by every write that changes them. Gap queries read the
summaries; history queries read `cell_visits` by `(cell_id, observed_at)`."""

from __future__ import annotations

import uuid
from datetime import datetime

from geoalchemy2 import WKBElement
from sqlalchemy import delete, text
from sqlalchemy.orm import Session

from app.models import CellVisit

_RECOMPUTE_PATROL = text("""
    INSERT INTO cell_status AS s (cell_id, last_patrol_at, last_patrol_by_id, updated_at)
    SELECT :cell_id, v.observed_at, v.person_id, now()
      FROM (SELECT NULL) dummy
      LEFT JOIN LATERAL (SELECT observed_at, person_id FROM cell_visits
                          WHERE cell_id = :cell_id ORDER BY observed_at DESC LIMIT 1) v ON true
    ON CONFLICT (cell_id) DO UPDATE
       SET last_patrol_at = excluded.last_patrol_at,
           last_patrol_by_id = excluded.last_patrol_by_id, updated_at = now()
""")

_RECOMPUTE_HOTSPOTS = text("""
    INSERT INTO cell_status AS s (cell_id, open_hotspots, running_deadlines, next_deadline,
                                  updated_at)
    SELECT :cell_id,
           count(*) FILTER (WHERE status NOT IN ('closed', 'rejected')),
           coalesce(array_agg(deadline ORDER BY deadline)
                    FILTER (WHERE status IN ('dispatched', 'rectifying')
                              AND deadline IS NOT NULL), '{}'),
           min(deadline) FILTER (WHERE status IN ('dispatched', 'rectifying')),
           now()
      FROM hotspots WHERE cell_id = :cell_id
    ON CONFLICT (cell_id) DO UPDATE
       SET open_hotspots = excluded.open_hotspots,
           running_deadlines = excluded.running_deadlines,
           next_deadline = excluded.next_deadline, updated_at = now()
""")


_ADVANCE_PATROL = text("""
    INSERT INTO cell_status AS s (cell_id, last_patrol_at, last_patrol_by_id, updated_at)
    VALUES (:cell_id, :at, :person_id, now())
    ON CONFLICT (cell_id) DO UPDATE
       SET last_patrol_by_id = CASE WHEN s.last_patrol_at IS NULL OR excluded.last_patrol_at
                                         > s.last_patrol_at
                                    THEN excluded.last_patrol_by_id
                                    ELSE s.last_patrol_by_id END,
           last_patrol_at = GREATEST(s.last_patrol_at, excluded.last_patrol_at),
           updated_at = now()
""")


# Every write to a cell's summary first takes this transaction-scoped lock on the cell, so two
# transactions never recompute it from snapshots that miss each other's rows.
_LOCK_CELL = text("SELECT pg_advisory_xact_lock(:namespace, CAST(:cell_id AS integer))")
LOCK_NAMESPACE = 7301  # an arbitrary number reserved for cell_status


def lock_cell(session: Session, cell_id: int) -> None:
    # The two-int form takes 32-bit keys; ids past 2^31 wrap, which only widens a lock.
    session.execute(
        _LOCK_CELL, {"namespace": LOCK_NAMESPACE, "cell_id": (cell_id + 2**31) % 2**32 - 2**31}
    )


def record_visit(
    session: Session,
    *,
    cell_id: int,
    person_id: int,
    observed_at: datetime,
    geom: WKBElement | str,
    report_id: uuid.UUID | None = None,
    patrol_id: uuid.UUID | None = None,
) -> None:
    """A counted patrol in `cell_id`: append to the history, advance the summary."""
    lock_cell(session, cell_id)
    session.add(
        CellVisit(
            cell_id=cell_id,
            person_id=person_id,
            observed_at=observed_at,
            geom=geom,
            report_id=report_id,
            patrol_id=patrol_id,
        )
    )
    session.execute(
        _ADVANCE_PATROL, {"cell_id": cell_id, "at": observed_at, "person_id": person_id}
    )


def remove_report_visits(session: Session, report_id: uuid.UUID) -> None:
    """A report stopped counting: drop its history rows and recompute the summary."""
    cells = session.scalars(
        delete(CellVisit).where(CellVisit.report_id == report_id).returning(CellVisit.cell_id)
    ).all()
    for cell_id in sorted(set(cells)):
        lock_cell(session, cell_id)
        session.execute(_RECOMPUTE_PATROL, {"cell_id": cell_id})


def refresh_hotspot_counts(session: Session, cell_id: int | None) -> None:
    if cell_id is not None:
        lock_cell(session, cell_id)
        session.execute(_RECOMPUTE_HOTSPOTS, {"cell_id": cell_id})
