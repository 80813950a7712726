"""Every endpoint × every role (SPEC §7) × an object in the role's scope and one outside it.

The routes come from the app's own OpenAPI document: a new endpoint without a rule here fails
`test_every_route_has_a_rule`. Outside its scope a role gets 401/403/404 — or, for lists and
tiles, an answer that names nothing of the other district (no IDOR through ids or filters).

The world: district 410702 with unit cell A (inspector `insp` and leader `boss` on duty, and
a supervisor duty of `sup`) and its neighbour N (`insp3`), district 410703 with unit cell B
(`insp2`, `boss2`); supervisor, command office and discipline scoped to 410702; an admin.
"in" targets live in A, "near" targets in N (the district's officers may see them, A's
inspector and leader may not), "out" targets in B. Where a route's body decides who may
(a patrol case or an inspection case; a source's name or its interval), VARIANTS hold a rule
for each further kind of request.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import get_settings
from app.domain.grid.cells import NewCell
from app.main import create_app
from app.models import Person, UserAccount
from app.security import hash_password
from tests.factories import (
    CENTRES,
    PASSWORD,
    SINCE,
    UNITS,
    bearer,
    give_duty,
    hotspot_body,
    jpeg,
    make_cells,
    make_user,
    report_body,
    square,
    two_by_two,
)

A = UNITS[0]
N = UNITS[1]  # "near": A's neighbour in the same district, where insp and boss hold no duty
B = "410703001001001"
B_CENTRE = (114.205, 35.305)
# side → (cell, its reporter, where its points lie, `within=` for lists, a source name)
SIDES = {
    "in": (A, "insp", CENTRES[A], "410702", "排口"),
    "near": (N, "insp3", CENTRES[N], N, "东北排口"),
    "out": (B, "insp2", B_CENTRE, "410703", "卫滨排口"),
}
ROLES = ("inspector", "leader", "supervisor", "command", "discipline", "admin", "anonymous")
USER = {
    "inspector": "insp",
    "leader": "boss",
    "supervisor": "sup",
    "command": "cmd",
    "discipline": "disc",
    "admin": "admin",
}
EVERYONE = frozenset(ROLES) - {"anonymous"}
ACCOUNTABLE = frozenset({"supervisor", "command", "discipline", "admin"})
REPORTERS = frozenset({"inspector", "leader", "supervisor"})
ADMIN = frozenset({"admin"})
FULL_VERIFIERS = frozenset({"admin", "discipline"})
NOBODY: frozenset[str] = frozenset()
DENIED = (401, 403, 404)
LATER = (datetime.now(UTC) + timedelta(days=3)).isoformat()


@dataclass
class World:
    client: TestClient
    db: Session
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    _headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def headers(self, role: str) -> dict[str, str]:
        if role == "anonymous":
            return {}
        user = USER.get(role, role)
        if user not in self._headers:
            self._headers[user] = bearer(self.db, user)
        return self._headers[user]

    def post(self, path: str, user: str, **kwargs: Any) -> dict[str, Any]:
        r = self.client.post(path, headers=self.headers(user), **kwargs)
        assert r.status_code in (200, 201), (path, r.text)
        return r.json()

    # Fresh objects for writes that change state (each role acts on its own copy).
    def report(self, side: str, user: str | None = None, **extra: Any) -> dict[str, Any]:
        _, reporter, (lon, lat), *_ = SIDES[side]
        body = report_body(A, **extra) | {"lon": lon, "lat": lat}
        return self.post("/api/v1/reports", user or reporter, json=body)

    def hotspot(self, side: str) -> dict[str, Any]:
        lon, lat = self.point(side)
        return self.post(
            "/api/v1/hotspots", "admin", json=hotspot_body(A) | {"lon": lon, "lat": lat}
        )

    def source(self, side: str) -> dict[str, Any]:
        lon, lat = self.point(side)
        body = {"type": "outfall", "name": SIDES[side][4], "lat": lat, "lon": lon}
        return self.post("/api/v1/sources", "admin", json=body)

    def point(self, side: str) -> tuple[float, float]:
        return SIDES[side][2]


@pytest.fixture
def world(client: TestClient, db: Session, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setattr(get_settings(), "photo_dir", tmp_path / "photos")
    monkeypatch.setattr(get_settings(), "open311_keys", "hotline-key")
    # Every role signs in from the same test address here; the throttle is tested elsewhere.
    monkeypatch.setattr(get_settings(), "login_attempts_per_minute", 1000)
    two_by_two(db)
    make_cells(
        db,
        NewCell("410703", "卫滨区", 2, None, square(114.2, 35.3, 0.02)),
        NewCell(B, "卫滨一号", 5, "410703", square(114.2, 35.3)),
    )
    people = {
        name: make_user(db, name, role, scope)
        for name, role, scope in [
            ("insp", "inspector", None),
            ("boss", "leader", None),
            ("insp2", "inspector", None),
            ("boss2", "leader", None),
            ("insp3", "inspector", None),
            ("sup", "supervisor", "410702"),
            ("cmd", "command", "410702"),
            ("disc", "discipline", "410702"),
            ("admin", "admin", None),
        ]
    }
    for name, cell, duty in [
        ("insp", A, "member"),
        ("boss", A, "leader"),
        ("insp2", B, "member"),
        ("boss2", B, "leader"),
        ("insp3", N, "member"),
        ("sup", A, "supervisor"),  # the district supervisor also holds a duty on A
    ]:
        give_duty(db, people[name], cell, duty, valid_from=SINCE)
    w = World(client, db)
    for side in SIDES:
        report = w.report(side)
        photo = w.client.post(
            f"/api/v1/reports/{report['id']}/photos",
            files={"file": ("p.jpg", jpeg((len(side), 9, 9)), "image/jpeg")},
            headers=w.headers(SIDES[side][1]),
        ).json()
        lon, lat = w.point(side)
        form = {"api_key": "hotline-key", "service_code": "dust", "lat": lat, "long": lon}
        complaint = w.client.post("/open311/v2/requests.json", data=form).json()[0]
        w.objects[side] = {
            "complaint": {"id": complaint["service_request_id"]},
            "report": report,
            "photo": photo,
            "hotspot": w.hotspot(side),
            "source": w.source(side),
        }
    return w


# --- the rules ------------------------------------------------------------------------------

Request = tuple[str, str, dict[str, Any]]  # method, url, httpx keyword arguments


@dataclass(frozen=True)
class Rule:
    """`make(world, side)` builds the request; `inside`/`outside`: the roles that succeed on
    an object in A / in B. Everyone else must be refused (401/403/404) — or, for a listing,
    may answer with a list that names nothing of B."""

    make: Callable[..., Request]
    inside: frozenset[str]
    outside: frozenset[str]
    public: bool = False
    listing: bool = False  # a list or tile: may answer 200 if it names nothing out of scope
    near: frozenset[str] = frozenset()  # set from `inside` below unless a rule differs
    acting: bool = False  # `make(world, side, role)`: the request depends on who sends it


def get(url: Callable[[World, str], str]) -> Callable[[World, str], Request]:
    return lambda w, side: ("GET", url(w, side), {})


def within(path: str) -> Callable[[World, str], Request]:
    return get(lambda w, side: f"{path}{'&' if '?' in path else '?'}within={SIDES[side][3]}")


def obj(kind: str, key: str = "id") -> Callable[[World, str], str]:
    return lambda w, side: str(w.objects[side][kind][key])


def cell(side: str) -> str:
    return SIDES[side][0]


PERIOD = "from=2026-01-01&to=2026-02-01"


def _transition(w: World, side: str) -> Request:
    h = w.hotspot(side)
    return ("POST", f"/api/v1/hotspots/{h['id']}/transitions", {"json": {"to": "accepted"}})


def _review(w: World, side: str) -> Request:
    flagged = w.report(side, accuracy_m=500)
    return ("POST", f"/api/v1/reports/{flagged['id']}/review", {"json": {"decision": "accept"}})


def _patch_source(w: World, side: str) -> Request:
    s = w.source(side)
    return ("PATCH", f"/api/v1/sources/{s['id']}", {"json": {"name": "新名"}})


def _patch_source_rules(w: World, side: str) -> Request:
    s = w.source(side)
    return ("PATCH", f"/api/v1/sources/{s['id']}", {"json": {"inspection_interval_hours": 24}})


def _source_with_rules(w: World, side: str) -> Request:
    method, url, kwargs = _source(w, side)
    return (method, url, {"json": kwargs["json"] | {"inspection_interval_hours": 24}})


def _delete_source(w: World, side: str) -> Request:
    return ("DELETE", f"/api/v1/sources/{w.source(side)['id']}", {})


def _report(w: World, side: str) -> Request:
    lon, lat = w.point(side)
    return ("POST", "/api/v1/reports", {"json": report_body(A) | {"lon": lon, "lat": lat}})


def _batch(w: World, side: str) -> Request:
    return ("POST", "/api/v1/reports/batch", {"json": [_report(w, side)[2]["json"]]})


def _photo(w: World, side: str) -> Request:
    report = w.objects[side]["report"]["id"]
    files = {"file": ("p.jpg", jpeg((uuid.uuid4().int % 255, 1, 2)), "image/jpeg")}
    return ("POST", f"/api/v1/reports/{report}/photos", {"files": files})


def _patrol(w: World, side: str) -> Request:
    lon, lat = w.point(side)
    start = datetime.now(UTC) - timedelta(hours=1)
    body = {
        "id": str(uuid.uuid4()),
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(minutes=20)).isoformat(),
        "track": {"type": "LineString", "coordinates": [[lon, lat], [lon + 0.001, lat]]},
    }
    return ("POST", "/api/v1/patrols", {"json": body})


def _hotspot(w: World, side: str) -> Request:
    lon, lat = w.point(side)
    return ("POST", "/api/v1/hotspots", {"json": hotspot_body(A) | {"lon": lon, "lat": lat}})


def _patrol_hotspot(w: World, side: str, role: str) -> Request:
    """A patrol case from the sender's own `issue` report at the side's point (those who file
    no reports try with the side's reporter's)."""
    report = w.report(side, USER[role] if role in REPORTERS else None, kind="issue")
    lon, lat = w.point(side)
    body = hotspot_body(A, source="patrol", report_id=report["id"]) | {"lon": lon, "lat": lat}
    return ("POST", "/api/v1/hotspots", {"json": body})


def _source(w: World, side: str) -> Request:
    lon, lat = w.point(side)
    return (
        "POST",
        "/api/v1/sources",
        {"json": {"type": "outfall", "name": "排口", "lat": lat, "lon": lon}},
    )


def _tile(w: World, side: str) -> Request:
    lon, lat = w.point(side)
    z = 14
    x = int((lon + 180) / 360 * 2**z)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * 2**z)
    return ("GET", f"/tiles/cells/{z}/{x}/{y}.pbf", {})


def _open311_post(w: World, side: str) -> Request:
    lon, lat = w.point(side)
    form = {"api_key": "hotline-key", "service_code": "dust", "lat": lat, "long": lon}
    return ("POST", "/open311/v2/requests.json", {"data": form})


def _open311_post_xml(w: World, side: str) -> Request:
    method, _, kwargs = _open311_post(w, side)
    return (method, "/open311/v2/requests.xml", kwargs)


def _logout(w: World, side: str) -> Request:
    # Each call ends the session it is made with: every call gets fresh tokens.
    w._headers.clear()
    return ("POST", "/api/v1/auth/logout", {})


_PASSWORD_HASH = hash_password(PASSWORD)


def _own_password(w: World, side: str, role: str) -> Request:
    """Each role changes its own password (back to PASSWORD first, so that every call can)."""
    user = USER.get(role)
    if user is not None:
        person = w.db.scalars(select(Person).where(Person.username == user)).one()
        w.db.get_one(UserAccount, person.id).password_hash = _PASSWORD_HASH
        w.db.commit()
    body = {"current_password": PASSWORD, "new_password": "another-long-password"}
    return ("POST", "/api/v1/auth/password", {"json": body})


def _roster(w: World, side: str) -> Request:
    """A one-row roster (CSV) for the side's cell."""
    phone = f"1390000{len(side):04d}"
    csv = f"网格编码,岗位,姓名,手机号,起始日期\n{cell(side)},网格员,新人,{phone},2025/1/1\n"
    return ("POST", "/api/v1/imports/preview", {"files": {"file": ("r.csv", csv.encode())}})


def _import(w: World, side: str) -> Request:
    _, _, kwargs = _roster(w, side)
    digest = hashlib.sha256(kwargs["files"]["file"][1]).hexdigest()
    return ("POST", "/api/v1/imports", kwargs | {"data": {"preview_sha256": digest}})


def _verify_export(w: World, side: str) -> Request:
    """An accountability export of the side's area (made by the admin), handed back to check:
    a scoped officer learns only that a file of another district is not one it may see."""
    url = f"/api/v1/exports/accountability?{PERIOD}&within={SIDES[side][3]}&format=csv"
    r = w.client.get(url, headers=w.headers("admin"))
    assert r.status_code == 200, r.text
    return ("POST", "/api/v1/exports/verify", {"files": {"file": ("x.csv", r.content)}})


def _account(action: str) -> Callable[[World, str], Request]:
    def make(w: World, side: str) -> Request:
        body = {"json": {"password": "another-long-password"}} if action == "password" else {}
        return ("POST", f"/api/v1/users/{SIDES[side][1]}/{action}", body)

    return make


RULES: dict[tuple[str, str], Rule] = {
    ("GET", "/healthz"): Rule(get(lambda w, s: "/healthz"), EVERYONE, EVERYONE, public=True),
    ("POST", "/api/v1/auth/token"): Rule(
        lambda w, s: (
            "POST",
            "/api/v1/auth/token",
            {"data": {"username": "insp", "password": PASSWORD}},
        ),
        EVERYONE,
        EVERYONE,
        public=True,
    ),
    ("POST", "/api/v1/auth/logout"): Rule(_logout, EVERYONE, EVERYONE),
    ("POST", "/api/v1/auth/password"): Rule(_own_password, EVERYONE, EVERYONE, acting=True),
    ("POST", "/api/v1/imports/preview"): Rule(_roster, ADMIN, ADMIN),
    ("POST", "/api/v1/imports"): Rule(_import, ADMIN, ADMIN),
    ("POST", "/api/v1/users/{username}/disable"): Rule(_account("disable"), ADMIN, ADMIN),
    ("POST", "/api/v1/users/{username}/password"): Rule(_account("password"), ADMIN, ADMIN),
    ("GET", "/api/v1/cells"): Rule(within("/api/v1/cells"), EVERYONE, ADMIN),
    ("GET", "/api/v1/cells/locate"): Rule(
        get(lambda w, s: "/api/v1/cells/locate?lon={}&lat={}".format(*w.point(s))), EVERYONE, ADMIN
    ),
    ("GET", "/api/v1/cells/{code}/card"): Rule(
        get(lambda w, s: f"/api/v1/cells/{cell(s)}/card"), EVERYONE, ADMIN
    ),
    ("GET", "/api/v1/cells/{code}/coverage"): Rule(
        get(lambda w, s: f"/api/v1/cells/{cell(s)}/coverage"), EVERYONE, ADMIN
    ),
    ("GET", "/api/v1/cells/{code}"): Rule(
        get(lambda w, s: f"/api/v1/cells/{cell(s)}"), EVERYONE, ADMIN
    ),
    ("GET", "/api/v1/grid/defects"): Rule(within("/api/v1/grid/defects"), ACCOUNTABLE, ADMIN),
    ("POST", "/api/v1/reports"): Rule(_report, REPORTERS, REPORTERS),  # outside: filed, flagged
    ("GET", "/api/v1/reports"): Rule(within("/api/v1/reports"), EVERYONE, ADMIN),
    ("POST", "/api/v1/reports/batch"): Rule(_batch, REPORTERS, REPORTERS),
    ("GET", "/api/v1/reports/heat"): Rule(within("/api/v1/reports/heat"), EVERYONE, ADMIN),
    ("GET", "/api/v1/reports/{report_id}"): Rule(
        get(lambda w, s: f"/api/v1/reports/{obj('report')(w, s)}"), EVERYONE, ADMIN
    ),
    ("POST", "/api/v1/reports/{report_id}/review"): Rule(
        _review, frozenset({"supervisor", "command", "admin"}), ADMIN
    ),
    # Only the reporter adds photos: `insp` in A; nobody of these roles in B.
    ("POST", "/api/v1/reports/{report_id}/photos"): Rule(_photo, frozenset({"inspector"}), NOBODY),
    ("GET", "/api/v1/reports/{report_id}/photos/{photo_id}"): Rule(
        get(lambda w, s: f"/api/v1/reports/{obj('report')(w, s)}/photos/{obj('photo')(w, s)}"),
        EVERYONE,
        ADMIN,
    ),
    ("GET", "/api/v1/reports/{report_id}/photos/{photo_id}/display"): Rule(
        get(
            lambda w, s: (
                f"/api/v1/reports/{obj('report')(w, s)}/photos/{obj('photo')(w, s)}/display"
            )
        ),
        EVERYONE,
        ADMIN,
    ),
    ("POST", "/api/v1/patrols"): Rule(_patrol, REPORTERS, REPORTERS),  # outside: not counted
    # An `inspection` case (SPEC §7: "create hotspot of source inspection/complaint/…").
    ("POST", "/api/v1/hotspots"): Rule(
        _hotspot, frozenset({"supervisor", "command", "admin"}), ADMIN
    ),
    ("GET", "/api/v1/hotspots"): Rule(within("/api/v1/hotspots"), EVERYONE, ADMIN),
    ("POST", "/api/v1/hotspots/{hotspot_id}/transitions"): Rule(
        _transition, frozenset({"leader", "supervisor", "command", "admin"}), ADMIN
    ),
    ("GET", "/api/v1/hotspots/{hotspot_id}"): Rule(
        get(lambda w, s: f"/api/v1/hotspots/{obj('hotspot')(w, s)}"), EVERYONE, ADMIN
    ),
    # The case file (cell outline, roster when found, photos): whoever sees the case.
    ("GET", "/api/v1/hotspots/{hotspot_id}/file"): Rule(
        get(lambda w, s: f"/api/v1/hotspots/{obj('hotspot')(w, s)}/file"), EVERYONE, ADMIN
    ),
    # Who a case may go to: those who may dispatch it (the leader on its own cells).
    ("GET", "/api/v1/hotspots/{hotspot_id}/assignees"): Rule(
        get(lambda w, s: f"/api/v1/hotspots/{obj('hotspot')(w, s)}/assignees"),
        frozenset({"leader", "supervisor", "command", "admin"}),
        ADMIN,
    ),
    ("GET", "/api/v1/sources"): Rule(within("/api/v1/sources"), EVERYONE, ADMIN),
    ("POST", "/api/v1/sources"): Rule(
        _source, frozenset({"inspector", "leader", "supervisor", "command", "admin"}), ADMIN
    ),
    ("GET", "/api/v1/sources/{source_id}"): Rule(
        get(lambda w, s: f"/api/v1/sources/{obj('source')(w, s)}"), EVERYONE, ADMIN
    ),
    ("PATCH", "/api/v1/sources/{source_id}"): Rule(
        _patch_source, frozenset({"inspector", "leader", "supervisor", "command", "admin"}), ADMIN
    ),
    ("DELETE", "/api/v1/sources/{source_id}"): Rule(
        _delete_source, frozenset({"supervisor", "command", "admin"}), ADMIN
    ),
    ("GET", "/api/v1/gaps"): Rule(within("/api/v1/gaps"), EVERYONE, ADMIN),
    ("GET", "/api/v1/gaps/rollup"): Rule(within("/api/v1/gaps/rollup"), EVERYONE, ADMIN),
    ("GET", "/api/v1/due"): Rule(within("/api/v1/due"), EVERYONE, ADMIN),
    ("GET", "/api/v1/at-risk"): Rule(within("/api/v1/at-risk?hours=744"), EVERYONE, ADMIN),
    ("GET", "/api/v1/plan"): Rule(get(lambda w, s: "/api/v1/plan"), EVERYONE, EVERYONE),
    ("GET", "/api/v1/spot-checks"): Rule(within("/api/v1/spot-checks"), ACCOUNTABLE, ADMIN),
    ("GET", "/api/v1/indicators"): Rule(within(f"/api/v1/indicators?{PERIOD}"), ACCOUNTABLE, ADMIN),
    ("GET", "/api/v1/bulletin"): Rule(
        within("/api/v1/bulletin?month=2026-01&format=json"), ACCOUNTABLE, ADMIN
    ),
    ("GET", "/api/v1/lapses"): Rule(within(f"/api/v1/lapses?{PERIOD}"), ACCOUNTABLE, ADMIN),
    ("GET", "/api/v1/exports/{kind}"): Rule(
        within(f"/api/v1/exports/accountability?{PERIOD}"), ACCOUNTABLE, ADMIN
    ),
    ("POST", "/api/v1/exports/verify"): Rule(_verify_export, ACCOUNTABLE, ADMIN),
    ("GET", "/api/v1/exports/hotspots/{hotspot_id}.zip"): Rule(
        get(lambda w, s: f"/api/v1/exports/hotspots/{obj('hotspot')(w, s)}.zip"), ACCOUNTABLE, ADMIN
    ),
    ("GET", "/api/v1/exports/cells/{code}.zip"): Rule(
        get(lambda w, s: f"/api/v1/exports/cells/{cell(s)}.zip?{PERIOD}"), ACCOUNTABLE, ADMIN
    ),
    ("GET", "/api/v1/audit"): Rule(
        get(lambda w, s: f"/api/v1/audit?target=hotspot:{obj('hotspot')(w, s)}"), ACCOUNTABLE, ADMIN
    ),
    ("GET", "/api/v1/audit/verify"): Rule(
        get(lambda w, s: "/api/v1/audit/verify"), ACCOUNTABLE, ACCOUNTABLE
    ),
    ("GET", "/tiles/cells/{z}/{x}/{y}.pbf"): Rule(_tile, EVERYONE, ADMIN),
    ("GET", "/open311/v2/services.json"): Rule(
        get(lambda w, s: "/open311/v2/services.json"), EVERYONE, EVERYONE, public=True
    ),
    ("POST", "/open311/v2/requests.json"): Rule(_open311_post, EVERYONE, EVERYONE, public=True),
    ("GET", "/open311/v2/requests.json"): Rule(
        get(lambda w, s: "/open311/v2/requests.json"), EVERYONE, EVERYONE, public=True
    ),
    ("GET", "/open311/v2/requests/{request_id}.json"): Rule(
        get(lambda w, s: f"/open311/v2/requests/{obj('complaint')(w, s)}.json"),
        EVERYONE,
        EVERYONE,
        public=True,
    ),
    ("GET", "/open311/v2/services.xml"): Rule(
        get(lambda w, s: "/open311/v2/services.xml"), EVERYONE, EVERYONE, public=True
    ),
    ("POST", "/open311/v2/requests.xml"): Rule(_open311_post_xml, EVERYONE, EVERYONE, public=True),
    ("GET", "/open311/v2/requests.xml"): Rule(
        get(lambda w, s: "/open311/v2/requests.xml"), EVERYONE, EVERYONE, public=True
    ),
    ("GET", "/open311/v2/requests/{request_id}.xml"): Rule(
        get(lambda w, s: f"/open311/v2/requests/{obj('complaint')(w, s)}.xml"),
        EVERYONE,
        EVERYONE,
        public=True,
    ),
}


# Lists, roll-ups and tiles filtered by scope: `within=` another district may answer 200 as
# long as nothing of it is named. Everything else names one object and must be refused.
LISTINGS = {
    ("GET", "/api/v1/cells"),
    ("GET", "/api/v1/reports"),
    ("GET", "/api/v1/reports/heat"),
    ("GET", "/api/v1/hotspots"),
    ("GET", "/api/v1/sources"),
    ("GET", "/api/v1/gaps"),
    ("GET", "/api/v1/gaps/rollup"),
    ("GET", "/api/v1/due"),
    ("GET", "/api/v1/at-risk"),
    ("GET", "/api/v1/audit"),
    ("GET", "/tiles/cells/{z}/{x}/{y}.pbf"),
    ("POST", "/api/v1/exports/verify"),  # "not issued" to whom may not see the export
}
# "near" (another cell of the same district): the district's supervisor, command office and
# discipline as inside, but inspectors and leaders only where they hold a duty (SPEC §7) —
# except where a role acts as itself anywhere (filing reports and patrols) or nowhere.
NEAR_EXCEPTIONS = {
    ("POST", "/api/v1/reports"): REPORTERS,
    ("POST", "/api/v1/reports/batch"): REPORTERS,
    ("POST", "/api/v1/patrols"): REPORTERS,
    ("POST", "/api/v1/reports/{report_id}/photos"): NOBODY,  # only its reporter, insp3
}
RULES = {
    k: replace(
        v,
        listing=k in LISTINGS,
        near=NEAR_EXCEPTIONS.get(
            k, v.inside if v.public else v.inside - {"inspector", "leader"} | (v.outside & v.inside)
        ),
    )
    for k, v in RULES.items()
}


# More requests to some routes, where the body decides who may (SPEC §7 has a row for each).
OFFICERS = frozenset({"command", "admin"})
VARIANTS: dict[str, tuple[tuple[str, str], Rule]] = {
    # "create hotspot from own `issue` report, in own cells"
    "patrol case": (
        ("POST", "/api/v1/hotspots"),
        Rule(_patrol_hotspot, REPORTERS, NOBODY, near=NOBODY, acting=True),
    ),
    # "edit source ledger rules (interval, survey)"
    "source interval": (
        ("PATCH", "/api/v1/sources/{source_id}"),
        Rule(_patch_source_rules, OFFICERS, ADMIN, near=OFFICERS),
    ),
    "new source with an interval": (
        ("POST", "/api/v1/sources"),
        Rule(_source_with_rules, OFFICERS, ADMIN, near=OFFICERS),
    ),
    # Re-verifying the whole chain, past its checkpoints: the admin and the discipline office.
    "full audit verify": (
        ("GET", "/api/v1/audit/verify"),
        Rule(
            get(lambda w, s: "/api/v1/audit/verify?full=true"),
            FULL_VERIFIERS,
            FULL_VERIFIERS,
            near=FULL_VERIFIERS,
        ),
    ),
}


def test_every_route_has_a_rule(database_url: str) -> None:
    paths = create_app(database_url).openapi()["paths"]
    routes = {(m.upper(), p) for p, ops in paths.items() for m in ops}
    assert routes == set(RULES), "a route without a permission rule, or a rule without a route"


def markers(w: World, side: str) -> list[str]:
    """Strings that name the side's objects: none may reach a viewer refused there."""
    objects = w.objects[side]
    cell, reporter, _, _, source_name = SIDES[side]
    return [
        cell,
        str(objects["report"]["id"]),
        str(objects["hotspot"]["id"]),
        str(objects["photo"]["id"]),
        source_name,
        f"{reporter}名",
    ]


def call(w: World, rule: Rule, role: str, side: str) -> Response:
    method, url, kwargs = rule.make(w, side, role) if rule.acting else rule.make(w, side)
    return w.client.request(method, url, headers=w.headers(role), **kwargs)


def leaks(w: World, r: Response, side: str) -> list[str]:
    body = r.content.decode("utf-8", "replace")
    found = [m for m in markers(w, side) if m in body]
    if "/reports/heat" in str(r.request.url) and r.status_code == 200 and r.json()["points"]:
        found.append("heat points")
    return found


@pytest.mark.parametrize("route", sorted(RULES), ids=lambda r: f"{r[0]} {r[1]}")
def test_route_answers_each_role_inside_and_outside_its_scope(
    world: World, route: tuple[str, str]
) -> None:
    assert wrong_answers(world, RULES[route]) == []


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variant_answers_each_role_inside_and_outside_its_scope(world: World, variant: str) -> None:
    route, rule = VARIANTS[variant]
    assert route in RULES
    assert wrong_answers(world, rule) == []


def wrong_answers(world: World, rule: Rule) -> list[str]:
    wrong: list[str] = []
    for role in ROLES:
        expect_anon = rule.public
        for side, allowed in (("in", rule.inside), ("near", rule.near), ("out", rule.outside)):
            r = call(world, rule, role, side)
            ok = role in allowed or (role == "anonymous" and expect_anon)
            if r.status_code >= 500:
                wrong.append(f"{role}/{side}: {r.status_code}")
            elif ok and r.status_code >= 400:
                wrong.append(f"{role}/{side}: refused {r.status_code} {r.text[:120]}")
            elif (
                not ok
                and r.status_code < 400
                and (side == "in" or not rule.listing or leaks(world, r, side))
            ):
                wrong.append(f"{role}/{side}: allowed {r.status_code} {leaks(world, r, side)}")
            elif not ok and r.status_code >= 400 and r.status_code not in DENIED:
                wrong.append(f"{role}/{side}: {r.status_code} is not a refusal")
    return wrong


# Pages are not in the OpenAPI document; the case desk (SPEC §6, §7) is checked here: the
# command office, supervisors, admins, leaders and discipline (read only) open it; an inspector
# is refused; nobody signed in is sent to sign in.
DESK_READERS = frozenset({"leader", "supervisor", "command", "discipline", "admin"})


def test_the_case_desk_page_answers_each_role(world: World) -> None:
    for role in ROLES:
        world.client.cookies.clear()
        if role != "anonymous":
            login = world.client.post(
                "/login",
                data={"username": USER[role], "password": PASSWORD, "next": "/desk"},
                follow_redirects=False,
            )
            assert login.status_code == 303, (role, login.text)
        r = world.client.get("/desk", follow_redirects=False)
        if role == "anonymous":
            assert r.status_code == 303 and "/login" in r.headers["location"]
        elif role in DESK_READERS:
            assert r.status_code == 200, role
            if role != "admin":  # the area filter offers nothing of the other district
                assert "卫滨" not in r.text and "410703" not in r.text, role
        else:
            assert r.status_code == 403, role


# The rankings page (SPEC §6 `GET /stats`): those who may read the indicators (supervisor,
# command, discipline, admin) within their scope; inspectors and leaders are refused.
STATS_READERS = frozenset({"supervisor", "command", "discipline", "admin"})


def test_the_rankings_page_answers_each_role(world: World) -> None:
    for role in ROLES:
        world.client.cookies.clear()
        if role != "anonymous":
            login = world.client.post(
                "/login",
                data={"username": USER[role], "password": PASSWORD, "next": "/stats"},
                follow_redirects=False,
            )
            assert login.status_code == 303, (role, login.text)
        r = world.client.get("/stats", follow_redirects=False)
        if role == "anonymous":
            assert r.status_code == 303 and "/login" in r.headers["location"]
        elif role in STATS_READERS:
            assert r.status_code == 200, role
            if role != "admin":  # the area choice offers nothing of the other district
                assert "卫滨" not in r.text and "410703" not in r.text, role
        else:
            assert r.status_code == 403, role
