"""Test data: cells, persons, duties and signed-in clients."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import shapely
from fastapi.testclient import TestClient
from PIL import Image
from PIL.ExifTags import GPS, IFD
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.grid.cells import NewCell, get_cell, write_cells
from app.domain.people.sessions import open_session
from app.models import Cell, Duty, Person, UserAccount
from app.security import hash_password

# A 0.01° square near Xinxiang, WGS-84: about 910 m east-west, 1110 m north-south.
X0, Y0 = 113.90, 35.30
PASSWORD = "correct-horse-battery"


def square(x: float, y: float, size: float = 0.01) -> MultiPolygon:
    return MultiPolygon([shapely.box(x, y, x + size, y + size)])


def multi(geom: BaseGeometry) -> MultiPolygon:
    return geom if isinstance(geom, MultiPolygon) else MultiPolygon([geom])


def make_cells(session: Session, *cells: NewCell) -> list[Cell]:
    write_cells(session, list(cells))
    session.commit()
    return [get_cell(session, c.code) for c in cells]


def two_by_two(session: Session) -> list[Cell]:
    """A district 410702 split into street 410702001 and four unit cells in a 2×2 block."""
    return make_cells(
        session,
        NewCell("410702", "红旗区", 2, None, square(X0, Y0, 0.02)),
        NewCell("410702001", "西街街道", 3, "410702", square(X0, Y0, 0.02)),
        NewCell("410702001001001", "西北", 5, "410702001", square(X0, Y0 + 0.01)),
        NewCell("410702001001002", "东北", 5, "410702001", square(X0 + 0.01, Y0 + 0.01)),
        NewCell("410702001001003", "西南", 5, "410702001", square(X0, Y0)),
        NewCell("410702001001004", "东南", 5, "410702001", square(X0 + 0.01, Y0)),
    )


# Hashing with argon2 takes a noticeable fraction of a second by design; tests that only need
# an account share one real hash of PASSWORD instead of computing it per user.
_PASSWORD_HASH = hash_password(PASSWORD)


def make_user(session: Session, username: str, role: str, scope: str | None = None) -> Person:
    person = Person(
        username=username,
        name=f"{username}名",
        phone="13900000000",
        role=role,
        scope_cell_id=get_cell(session, scope).id if scope else None,
    )
    session.add(person)
    session.flush()
    session.add(UserAccount(person_id=person.id, password_hash=_PASSWORD_HASH))
    session.commit()
    return person


def bearer(session: Session, username: str) -> dict[str, str]:
    """A valid token without the password round trip (auth is tested on its own)."""
    person = session.scalar(select(Person).where(Person.username == username))
    assert person is not None
    token = open_session(session, person.id, "testclient")
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def give_duty(
    session: Session,
    person: Person,
    code: str,
    duty: str = "member",
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
) -> None:
    session.add(
        Duty(
            cell_id=get_cell(session, code).id,
            person_id=person.id,
            duty=duty,
            valid_from=valid_from,
            valid_to=valid_to,
        )
    )
    session.commit()


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    r = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


# --- reports and hotspots ----------------------------------------------------------------
UNITS = ["410702001001001", "410702001001002", "410702001001003", "410702001001004"]
# Centres of the four unit cells of two_by_two(): 西北, 东北, 西南, 东南.
CENTRES = {
    UNITS[0]: (X0 + 0.005, Y0 + 0.015),
    UNITS[1]: (X0 + 0.015, Y0 + 0.015),
    UNITS[2]: (X0 + 0.005, Y0 + 0.005),
    UNITS[3]: (X0 + 0.015, Y0 + 0.005),
}
SINCE = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass
class Field:
    """A small staffed grid: `insp` is member of the two northern cells, `boss` leads them,
    `sup` supervises everything, `cmd` is the district command office, `disc` discipline."""

    client: TestClient
    db: Session

    def headers(self, username: str) -> dict[str, str]:
        if username not in self._tokens:
            self._tokens[username] = bearer(self.db, username)
        return self._tokens[username]

    def __post_init__(self) -> None:
        self._tokens: dict[str, dict[str, str]] = {}


def staffed_field(client: TestClient, db: Session) -> Field:
    two_by_two(db)
    insp = make_user(db, "insp", "inspector")
    other = make_user(db, "other", "inspector")
    boss = make_user(db, "boss", "leader")
    make_user(db, "sup", "supervisor")
    make_user(db, "cmd", "command", scope="410702")
    make_user(db, "disc", "discipline")
    make_user(db, "admin", "admin")
    for code in UNITS[:2]:
        give_duty(db, insp, code, "member", valid_from=SINCE)
        give_duty(db, boss, code, "leader", valid_from=SINCE)
    give_duty(db, other, UNITS[3], "member", valid_from=SINCE)
    return Field(client, db)


def post_as(field: Field, path: str, body: dict[str, Any], user: str = "sup") -> dict[str, Any]:
    """POST JSON as `user` of the field; the answer, which must be 200 or 201."""
    r = field.client.post(path, json=body, headers=field.headers(user))
    assert r.status_code in (200, 201), r.text
    return r.json()  # type: ignore[no-any-return]


def person_named(db: Session, username: str) -> Person:
    found = db.scalar(select(Person).where(Person.username == username))
    assert found is not None
    return found


def report_body(cell: str = UNITS[0], **overrides: object) -> dict[str, object]:
    lon, lat = CENTRES[cell]
    body: dict[str, object] = {
        "id": str(uuid.uuid4()),
        "lat": lat,
        "lon": lon,
        "accuracy_m": 10,
        "observed_at": datetime.now(UTC).isoformat(),
        "kind": "patrol",
    }
    body.update(overrides)
    return body


def hotspot_body(cell: str = UNITS[0], **overrides: object) -> dict[str, object]:
    lon, lat = CENTRES[cell]
    return {
        "lat": lat,
        "lon": lon,
        "category": "dust",
        "description": "工地扬尘未覆盖",
        "source": "inspection",
        **overrides,
    }


# --- photos --------------------------------------------------------------------------------


def dms(value: float) -> tuple[float, float, float]:
    d = int(value)
    m = int((value - d) * 60)
    return (float(d), float(m), round(((value - d) * 60 - m) * 60, 4))


def jpeg(
    colour: tuple[int, int, int] = (200, 30, 30),
    gps: tuple[float, float] | None = None,
    fmt: str = "JPEG",
    size: tuple[int, int] = (64, 48),
) -> bytes:
    img = Image.new("RGB", size, colour)
    exif = Image.Exif()
    if gps is not None:
        lon, lat = gps
        exif[IFD.GPSInfo] = {
            GPS.GPSLatitudeRef: "N",
            GPS.GPSLatitude: dms(lat),
            GPS.GPSLongitudeRef: "E",
            GPS.GPSLongitude: dms(lon),
        }
        exif[IFD.Exif] = {36867: "2026:11:20 10:00:00"}
    buf = io.BytesIO()
    img.save(buf, fmt, exif=exif) if fmt == "JPEG" else img.save(buf, fmt)
    return buf.getvalue()
