"""The monthly bulletin's PDF is one printed page, as the issue asks, in Chinese and English, on
the demo city's data (tests/demo_city.py): a full month of cases, more of them than the page
lists, the month just over and the month still running."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.db import make_engine, make_sessionmaker
from app.domain.timeparse import local_zone
from tests.conftest import empty_all_tables
from tests.demo_city import seed_demo_city
from tests.factories import bearer


@pytest.fixture(scope="module")
def city(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    seed_demo_city(engine)
    yield engine
    empty_all_tables(engine)
    engine.dispose()


def pages(pdf: bytes) -> int:
    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True)
    [line] = [x for x in info.stdout.decode().splitlines() if x.startswith("Pages:")]
    return int(line.split()[1])


def bulletin_pages(engine: Engine, client: TestClient, **params: str) -> dict[str, int]:
    with make_sessionmaker(engine)() as session:
        headers = bearer(session, "admin")
    counted = {}
    for lang in ("zh", "en"):
        r = client.get(
            "/api/v1/bulletin", params={"format": "pdf", "lang": lang, **params}, headers=headers
        )
        assert r.status_code == 200, r.text
        counted[lang] = pages(r.content)
    return counted


def test_the_demo_citys_bulletin_is_one_page_in_both_languages(
    city: Engine, client: TestClient
) -> None:
    # The last complete month: more overdue and missed cases than the page lists.
    with make_sessionmaker(city)() as session:
        headers = bearer(session, "admin")
    b = client.get("/api/v1/bulletin", params={"format": "json"}, headers=headers).json()
    assert len(b["overdue"]) > 8 and len(b["missed"]) > 8 and len(b["worst"]["rows"]) == 10
    assert bulletin_pages(city, client) == {"zh": 1, "en": 1}
    this_month = f"{datetime.now(local_zone()):%Y-%m}"  # still running: the page says so
    assert bulletin_pages(city, client, month=this_month) == {"zh": 1, "en": 1}


def test_long_names_and_descriptions_keep_the_bulletin_on_one_page(
    city: Engine, client: TestClient
) -> None:
    long = "沿河堤路东段雨污混排口附近群众反映夜间异味明显并伴有黑色污水直排入河 " * 4
    with city.begin() as conn:
        kept = conn.execute(text("SELECT id, description FROM hotspots")).all()
        names = conn.execute(text("SELECT id, name FROM cells")).all()
        conn.execute(text("UPDATE hotspots SET description = :d"), {"d": long})
        conn.execute(text("UPDATE cells SET name = name || :n"), {"n": long[:40]})
    try:
        assert bulletin_pages(city, client) == {"zh": 1, "en": 1}
    finally:
        with city.begin() as conn:
            conn.execute(
                text("UPDATE hotspots SET description = :d WHERE id = :id"),
                [{"id": k.id, "d": k.description} for k in kept],
            )
            conn.execute(
                text("UPDATE cells SET name = :n WHERE id = :id"),
                [{"id": c.id, "n": c.name} for c in names],
            )
