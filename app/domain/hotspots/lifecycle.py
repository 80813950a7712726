"""The hotspot state machine (SPEC §4) — pure rules, no database.

reported → accepted (立案) | rejected (不予立案); accepted → dispatched (派遣: assignee +
deadline); dispatched → rectifying; rectifying → rectified (处置反馈); rectified → closed
(核查结案/销号) | rectifying (返工, rework); closed → reopened (回头看: relapse) → dispatched.
`extend` (延期) is not a state: it moves a running deadline later and is counted.
Which statuses are open or run a deadline is app/rules.py's (SQL uses the same sets).
"""

from __future__ import annotations

from app.domain.errors import Conflict
from app.rules import FINISHED, RUNNING_DEADLINE

# Every status of app/rules.py:STATUSES, with the statuses it may go to.
STEPS: dict[str, tuple[str, ...]] = {
    "reported": ("accepted", "rejected"),
    "accepted": ("dispatched",),
    "dispatched": ("rectifying",),
    "rectifying": ("rectified",),
    "rectified": ("closed", "rectifying"),
    "closed": ("reopened",),
    "reopened": ("dispatched",),
    "rejected": (),
}
EXTEND = "extend"
EXTENDABLE = RUNNING_DEADLINE  # a deadline may be extended while it runs
# Steps that judge the case (who may: leader of the cell, supervisor/command in scope, admin)
# versus steps that do the work (the assignee, supervisor/command in scope, admin).
WORK_STEPS = {("dispatched", "rectifying"), ("rectifying", "rectified")}


class IllegalStep(Conflict):
    pass


def allowed_from(status: str) -> tuple[str, ...]:
    steps = STEPS.get(status, ())
    return (*steps, EXTEND) if status in EXTENDABLE else steps


def check_step(status: str, to: str) -> None:
    if to not in allowed_from(status):
        allowed = ", ".join(allowed_from(status)) or "none — the case is finished"
        raise IllegalStep(f"a hotspot in status {status!r} cannot go to {to!r}; allowed: {allowed}")


def is_open(status: str) -> bool:
    return status not in FINISHED


def is_work_step(status: str, to: str) -> bool:
    return (status, to) in WORK_STEPS
