"""One visibility rule per resource (app/domain/people/scope.py `visible`): for every person of
the staffed field, a resource's list names exactly the objects its single read answers 200 for
(and the single read answers 404, as for a missing id, for the rest).

The world holds, beside the field's own cells and people, objects that are seen only as one's
own: `other` filed a report, opened a case and surveyed a source in 西南 while on duty there,
and is off duty there now; `insp` filed a report in 西南, where he never held a duty; and the
admin keeps a case, a source and a report outside every cell (only the unscoped see them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import clock
from app.config import get_settings
from app.domain.people.scope import Viewer, can_see
from app.models import AuditEntry, Cell, Duty, Person
from tests.factories import (
    CENTRES,
    UNITS,
    X0,
    Y0,
    Field,
    give_duty,
    hotspot_body,
    jpeg,
    report_body,
    staffed_field,
)

PEOPLE = ("insp", "other", "boss", "sup", "cmd", "disc", "admin")
OUTSIDE = {"lon": X0 - 0.05, "lat": Y0 + 0.005}  # in no cell
SOUTH_WEST = UNITS[2]


@dataclass
class World:
    field: Field
    reports: dict[str, str] = field(default_factory=dict)  # label -> id
    photos: dict[str, str] = field(default_factory=dict)  # photo id -> report id
    hotspots: dict[str, str] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)

    def post(self, path: str, user: str, **kwargs: Any) -> dict[str, Any]:
        r = self.field.client.post(path, headers=self.field.headers(user), **kwargs)
        assert r.status_code in (200, 201), (path, user, r.text)
        return r.json()

    def report(self, label: str, user: str, where: dict[str, float], **extra: Any) -> str:
        body = report_body(UNITS[0], **extra) | where
        report = self.post("/api/v1/reports", user, json=body)
        photo = self.post(
            f"/api/v1/reports/{report['id']}/photos",
            user,
            files={"file": ("p.jpg", jpeg((len(self.photos) * 20, 9, 9)), "image/jpeg")},
        )
        self.reports[label] = report["id"]
        self.photos[photo["id"]] = report["id"]
        return str(report["id"])

    def get(self, user: str, url: str, **params: Any) -> Any:
        return self.field.client.get(url, params=params, headers=self.field.headers(user))


def at(code: str) -> dict[str, float]:
    lon, lat = CENTRES[code]
    return {"lon": lon, "lat": lat}


@pytest.fixture
def world(
    client: TestClient, db: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> World:
    monkeypatch.setattr(get_settings(), "photo_dir", tmp_path / "photos")
    f = staffed_field(client, db)
    w = World(f)
    other = db.scalar(select(Person).where(Person.username == "other"))
    assert other is not None
    give_duty(db, other, SOUTH_WEST, "member", valid_from=datetime(2025, 1, 1, tzinfo=UTC))

    w.report("insp's, on duty", "insp", at(UNITS[0]))
    w.report("insp's, off his cells", "insp", at(SOUTH_WEST))
    w.report("other's, on duty", "other", at(UNITS[3]))
    w.report("sup's", "sup", at(UNITS[1]))
    w.report("outside every cell", "insp", OUTSIDE)
    issue = w.report("other's issue in 西南", "other", at(SOUTH_WEST), kind="issue")

    case = hotspot_body(SOUTH_WEST, source="patrol", report_id=issue)
    w.hotspots["other's case in 西南"] = w.post("/api/v1/hotspots", "other", json=case)["id"]
    w.hotspots["admin's in 东北"] = w.post(
        "/api/v1/hotspots", "admin", json=hotspot_body(UNITS[1])
    )["id"]
    outside = hotspot_body() | OUTSIDE
    w.hotspots["outside every cell"] = w.post("/api/v1/hotspots", "admin", json=outside)["id"]
    assigned = w.post("/api/v1/hotspots", "admin", json=hotspot_body(UNITS[3]))["id"]
    w.post(f"/api/v1/hotspots/{assigned}/transitions", "admin", json={"to": "accepted"})
    later = (clock.now() + timedelta(days=3)).isoformat()
    step = {"to": "dispatched", "assignee": "other", "deadline": later}
    w.post(f"/api/v1/hotspots/{assigned}/transitions", "admin", json=step)
    w.hotspots["assigned to other"] = assigned

    def source(label: str, user: str, where: dict[str, float]) -> None:
        body = {"type": "outfall", "name": label, **where}
        w.sources[label] = w.post("/api/v1/sources", user, json=body)["id"]

    source("insp's", "insp", at(UNITS[0]))
    source("other's in 西南", "other", at(SOUTH_WEST))
    source("admin's in 东南", "admin", at(UNITS[3]))
    source("outside every cell", "admin", OUTSIDE)
    retired = w.post(
        "/api/v1/sources", "admin", json={"type": "outfall", "name": "旧"} | at(UNITS[0])
    )
    assert f.client.delete(
        f"/api/v1/sources/{retired['id']}", headers=f.headers("admin")
    ).is_success
    w.sources["retired"] = retired["id"]

    # `other` leaves 西南: what they filed, opened and surveyed there stays theirs to see.
    db.execute(
        update(Duty)
        .where(Duty.person_id == other.id, Duty.cell_id == _cell_id(db, SOUTH_WEST))
        .values(valid_to=clock.now() - timedelta(seconds=1))
    )
    db.commit()
    return w


def _cell_id(db: Session, code: str) -> int:
    cell_id = db.scalar(select(Cell.id).where(Cell.code == code))
    assert cell_id is not None
    return cell_id


def agreement(
    world: World,
    listed: Callable[[str], set[Any]],
    read: Callable[[str, Any], int],
    every: set[Any],
) -> dict[str, set[Any]]:
    """Per person, what the list names; asserts the single read answers 200 for exactly that
    and 404 for the rest."""
    seen: dict[str, set[Any]] = {}
    for user in PEOPLE:
        names = listed(user)
        answers = {ident: read(user, ident) for ident in every}
        assert set(answers.values()) <= {200, 404}, (user, answers)
        assert names == {i for i, status in answers.items() if status == 200}, user
        seen[user] = names
    return seen


def test_cells_list_and_read_agree(world: World) -> None:
    every = {c for c in world.field.db.scalars(select(Cell.code))}

    def listed(user: str) -> set[str]:
        page = world.get(user, "/api/v1/cells", limit=10_000).json()
        return {c["code"] for c in page["cells"]}

    seen = agreement(
        world, listed, lambda u, code: world.get(u, f"/api/v1/cells/{code}").status_code, every
    )
    assert seen["insp"] == seen["boss"] == set(UNITS[:2])
    assert seen["other"] == {UNITS[3]}  # no longer on duty in 西南
    assert seen["cmd"] == seen["admin"] == every


def test_reports_list_and_read_agree(world: World) -> None:
    every = set(world.reports.values())

    def listed(user: str) -> set[str]:
        return {r["id"] for r in world.get(user, "/api/v1/reports", limit=1000).json()["reports"]}

    seen = agreement(
        world, listed, lambda u, i: world.get(u, f"/api/v1/reports/{i}").status_code, every
    )
    r = world.reports
    assert r["insp's, off his cells"] in seen["insp"] - seen["boss"]
    assert r["other's issue in 西南"] in seen["other"] - seen["insp"]
    assert r["outside every cell"] in seen["insp"] & seen["sup"] & seen["admin"]
    assert r["outside every cell"] in seen["disc"] - seen["cmd"]  # disc is unscoped here
    assert seen["sup"] == seen["admin"] == every


def test_photos_list_and_read_agree(world: World) -> None:
    """A photo's list is its report's `photos`; its read is the photo file itself."""
    every = set(world.photos)

    def listed(user: str) -> set[str]:
        reports = world.get(user, "/api/v1/reports", limit=1000).json()["reports"]
        return {p for r in reports for p in r["photos"]}

    def read(user: str, photo: str) -> int:
        return world.get(user, f"/api/v1/reports/{world.photos[photo]}/photos/{photo}").status_code

    seen = agreement(world, listed, read, every)
    assert seen["sup"] == every and seen["insp"] != every
    # A photo asked for under another report is missing, even to those who see both.
    first, second = sorted(every)[:2]
    wrong = f"/api/v1/reports/{world.photos[second]}/photos/{first}"
    assert world.get("admin", wrong).status_code == 404


def test_hotspots_list_and_read_agree(world: World) -> None:
    every = set(world.hotspots.values())

    def listed(user: str) -> set[str]:
        return {h["id"] for h in world.get(user, "/api/v1/hotspots", limit=1000).json()["hotspots"]}

    seen = agreement(
        world, listed, lambda u, i: world.get(u, f"/api/v1/hotspots/{i}").status_code, every
    )
    h = world.hotspots
    assert seen["other"] == {h["other's case in 西南"], h["assigned to other"]}
    assert h["admin's in 东北"] in seen["insp"] and h["outside every cell"] not in seen["cmd"]
    assert seen["sup"] == seen["admin"] == every


def test_sources_list_and_read_agree(world: World) -> None:
    every = set(world.sources.values())

    def listed(user: str) -> set[int]:
        page = world.get(user, "/api/v1/sources", include_retired=True, limit=5000).json()
        return {s["id"] for s in page["sources"]}

    seen = agreement(
        world, listed, lambda u, i: world.get(u, f"/api/v1/sources/{i}").status_code, every
    )
    s = world.sources
    assert seen["other"] == {s["other's in 西南"], s["admin's in 东南"]}
    assert seen["insp"] == {s["insp's"], s["retired"]}
    assert s["outside every cell"] in seen["disc"] - seen["cmd"]  # disc is unscoped here
    assert seen["admin"] == every


def test_audit_entries_list_and_read_agree(world: World) -> None:
    """The log's list against the rule's single read (the log has no read of one entry)."""
    db = world.field.db
    every = set(db.scalars(select(AuditEntry.seq)))

    def listed(user: str) -> set[int]:
        r = world.get(user, "/api/v1/audit", limit=1000)
        if user in ("insp", "other", "boss"):  # the log is for accountable roles (SPEC §7)
            assert r.status_code == 403
            return {seq for seq in every if read(user, seq) == 200}
        return {e["seq"] for e in r.json()["entries"]}

    def read(user: str, seq: int) -> int:
        person = db.scalar(select(Person).where(Person.username == user))
        assert person is not None
        return 200 if can_see(db, Viewer.of(person), AuditEntry, seq) else 404

    seen = agreement(world, listed, read, every)
    about_no_cell = set(db.scalars(select(AuditEntry.seq).where(AuditEntry.cell_id.is_(None))))
    assert about_no_cell and about_no_cell <= seen["sup"] and not about_no_cell & seen["cmd"]
    assert seen["admin"] == every and seen["cmd"] < every
