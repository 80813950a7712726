"""Every status set and threshold of the domain rules, defined once.

Two kinds of values, one way to SQL:

- the vocabulary's fixed meanings (SPEC §3, §4) are code: which statuses a hotspot can have,
  which of them are finished (open = not finished) or run a deadline (overdue = one of those
  past its deadline), which duties staff a cell. They are constants here;
- the thresholds an operator may tune are settings (app/config.py, GRIDWATCH_*): the source
  radius, the missed-problem window, the missed-by-grid radius and days.

Queries (app/sql/*.sql and the statements in app/domain/) receive both as bound parameters:
`params()` gives them under the names the SQL uses. The database's own functions, which
triggers run without parameters, read the same values from the one-row table
`gridwatch_rules` (app/sql/fn_rules.sql): `database_values()` is that row, and
app/domain/status.py:keep_rules_in_step writes it — at `gridwatch migrate`, after a restore
and when the server starts — and rebuilds the summaries the old values computed. So changing
a threshold is one edit (its setting), and nothing in SQL repeats a value given here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.config import Settings, get_settings

# Hotspots (SPEC §4).
STATUSES = (
    "reported",
    "accepted",
    "rejected",
    "dispatched",
    "rectifying",
    "rectified",
    "closed",
    "reopened",
)
FINISHED = ("closed", "rejected")  # a hotspot is open while not finished
RUNNING_DEADLINE = ("dispatched", "rectifying")  # overdue = one of these and past deadline
# A running deadline within this many hours is "due soon" (the desk's and the phone's
# reminders, the notifier's due-soon event).
DUE_SOON_HOURS = 24
# Not admitted as a case (不予立案): a complaint found unfounded was nothing the grid missed.
UNFOUNDED = ("rejected",)

# Duties (SPEC §3). A leaf cell is staffed while it has a leader and a member or patroller.
DUTIES = ("leader", "member", "patroller", "supervisor")
LEADER_DUTIES = ("leader",)
MEMBER_DUTIES = ("member", "patroller")
# Who patrols: the patrol requirement and the plan of the day are theirs; 监督员 oversee.
PATROL_DUTIES = LEADER_DUTIES + MEMBER_DUTIES


def is_staffed(active_duties: Iterable[str]) -> bool:
    """SPEC §3, given the duties held on a cell at one instant."""
    held = set(active_duties)
    return bool(held & set(LEADER_DUTIES)) and bool(held & set(MEMBER_DUTIES))


def database_values(settings: Settings | None = None) -> dict[str, Any]:
    """The row of `gridwatch_rules`: what the database's functions need (the source radius
    for sources.inspected_at, the missed-problem window for cell_status.missed_until, the
    staffing duties for cell_status.has_leader/has_member, the unfounded statuses)."""
    s = settings or get_settings()
    return {
        "source_radius_m": s.source_radius_m,
        "missed_problem_days": s.missed_problem_days,
        "leader_duties": list(LEADER_DUTIES),
        "member_duties": list(MEMBER_DUTIES),
        "unfounded_statuses": list(UNFOUNDED),
    }


def params(settings: Settings | None = None) -> dict[str, Any]:
    """Bound parameters for the queries: every rule value under the name the SQL uses."""
    return database_values(settings) | {
        "finished_statuses": list(FINISHED),
        "running_deadline_statuses": list(RUNNING_DEADLINE),
    }


def sql_in(column: str, values: Iterable[str]) -> str:
    """`column IN ('a', 'b')` for DDL that cannot take parameters (check constraints and
    partial-index predicates of the models), from the constants above — never from input."""
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"{column} IN ({quoted})"
