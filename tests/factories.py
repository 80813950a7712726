"""Test data: cells, persons, duties and signed-in clients."""

from __future__ import annotations

from datetime import datetime

import shapely
from fastapi.testclient import TestClient
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session

from app.domain.accounts import create_or_update_user
from app.domain.cells import NewCell, get_cell, write_cells
from app.models import Cell, Duty, Person

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


def make_user(session: Session, username: str, role: str, scope: str | None = None) -> Person:
    person, _ = create_or_update_user(
        session,
        username=username,
        role=role,
        password=PASSWORD,
        scope=scope,
        name=f"{username}名",
        phone="13900000000",
    )
    session.commit()
    return person


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
