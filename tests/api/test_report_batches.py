"""Batch sync is filed set-wise (one lookup, one insert, one audit append for the whole batch):
every item must still be answered exactly as if it had been posted on its own, in order —
duplicates inside one batch, items outside every cell, flags that depend on earlier items of
the same batch (impossible_speed), refused items, and re-sends."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain.accountability import verify as audit_verify
from app.domain.grid.cells import get_cell
from app.models import AuditEntry, CellStatus, CellVisit, Report
from tests.factories import (
    CENTRES,
    SINCE,
    UNITS,
    X0,
    Y0,
    Field,
    give_duty,
    make_user,
    report_body,
    staffed_field,
)

T0 = datetime.now(UTC) - timedelta(hours=3)
OUTSIDE = (X0 - 0.05, Y0 - 0.05)


@pytest.fixture
def field(client: TestClient, db: Session) -> Field:
    """The staffed field plus `twin`, an inspector with exactly `insp`'s duties."""
    made = staffed_field(client, db)
    twin = make_user(db, "twin", "inspector")
    for code in UNITS[:2]:
        give_duty(db, twin, code, "member", valid_from=SINCE)
    return made


def batch(field: Field, items: list[dict[str, Any]], user: str = "insp") -> list[dict[str, Any]]:
    r = field.client.post("/api/v1/reports/batch", json=items, headers=field.headers(user))
    assert r.status_code == 200, r.text
    results: list[dict[str, Any]] = r.json()["results"]
    assert [i["index"] for i in results] == list(range(len(items)))
    return results


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def test_duplicates_inside_one_batch_are_answered_like_resends(field: Field) -> None:
    first = report_body(observed_at=at(0))
    results = batch(field, [first, first, {**first, "description": "改了"}])

    assert [i["status"] for i in results] == [201, 200, 409]
    assert results[1]["report"] == results[0]["report"]
    assert "different body" in results[2]["detail"]
    assert field.db.scalar(select(func.count()).select_from(Report)) == 1
    assert field.db.scalar(select(func.count()).select_from(CellVisit)) == 1


def test_items_outside_every_cell_are_stored_flagged(field: Field) -> None:
    lon, lat = OUTSIDE
    [item] = batch(field, [report_body(lon=lon, lat=lat, observed_at=at(0))])
    assert item["status"] == 201
    assert item["report"]["flags"] == ["outside_cells"] and item["report"]["cell_code"] is None
    assert item["report"]["counted"] is False
    assert field.db.scalar(select(func.count()).select_from(CellVisit)) == 0


def test_impossible_speed_between_items_of_one_batch(field: Field) -> None:
    west, east = UNITS[0], UNITS[1]  # centres ~0.9 km apart
    results = batch(
        field,
        [
            report_body(west, observed_at=at(0)),
            report_body(east, observed_at=at(10)),  # 330 km/h from the first
            report_body(east, observed_at=at(600)),  # 5.5 km/h from the first
        ],
    )
    assert [i["report"]["flags"] for i in results] == [[], ["impossible_speed"], []]
    assert [i["report"]["counted"] for i in results] == [True, False, True]


def test_a_voided_item_is_not_the_previous_patrol_of_the_next(field: Field) -> None:
    west, east = UNITS[0], UNITS[1]
    results = batch(
        field,
        [
            report_body(west, observed_at=at(0)),
            # Right where the next one is, but voided: the next one's previous counted patrol
            # is the first item, 0.9 km away 20 s before.
            report_body(east, observed_at=at(10), accuracy_m=500),
            report_body(east, observed_at=at(20)),
        ],
    )
    assert [i["report"]["flags"] for i in results] == [
        [],
        ["low_accuracy", "impossible_speed"],
        ["impossible_speed"],
    ]


def test_an_out_of_order_item_compares_with_the_patrol_before_it_in_time(field: Field) -> None:
    west, east = UNITS[0], UNITS[1]
    results = batch(
        field,
        [
            report_body(east, observed_at=at(600)),
            # Observed before the first item: its previous patrol is in the history (none).
            report_body(west, observed_at=at(0)),
            # 10 s after the west one, 590 s before the east one: the west one is previous.
            report_body(east, observed_at=at(10)),
        ],
    )
    assert [i["report"]["flags"] for i in results] == [[], [], ["impossible_speed"]]


def test_a_batch_resend_answers_exactly_what_the_first_send_did(field: Field) -> None:
    items = [report_body(UNITS[i % 2], observed_at=at(900 * i)) for i in range(4)]
    items.append({"id": "nonsense", "kind": "patrol"})
    first = batch(field, items)
    again = batch(field, items)

    assert [i["status"] for i in first] == [201, 201, 201, 201, 422]
    assert [i["status"] for i in again] == [200, 200, 200, 200, 422]
    assert [i["report"] for i in again[:4]] == [i["report"] for i in first[:4]]
    assert field.db.scalar(select(func.count()).select_from(Report)) == 4
    entries = field.db.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "report.create")
    )
    assert entries == 4
    assert audit_verify.verify(field.db).ok


def test_a_batch_advances_each_cells_summary_to_its_newest_patrol(field: Field) -> None:
    times = [at(0), at(3600), at(1800)]  # out of order: the newest is the second
    batch(field, [report_body(UNITS[0], observed_at=t) for t in times])
    status = field.db.scalar(
        select(CellStatus).where(CellStatus.cell_id == get_cell(field.db, UNITS[0]).id)
    )
    assert status is not None and status.last_patrol_at is not None
    assert status.last_patrol_at == datetime.fromisoformat(times[1])
    assert field.db.scalar(select(func.count()).select_from(CellVisit)) == 3


def test_a_refused_value_fails_only_its_item_and_the_rest_keep_batch_semantics(
    field: Field,
) -> None:
    west, east = UNITS[0], UNITS[1]
    results = batch(
        field,
        [
            report_body(west, observed_at=at(0)),
            report_body(east, observed_at=at(5), description="坏\u0000"),
            report_body(east, observed_at=at(10)),
        ],
    )
    assert [i["status"] for i in results] == [201, 422, 201]
    assert results[2]["report"]["flags"] == ["impossible_speed"]


def random_sequence(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """Reports as a phone might queue them offline: mostly in time order, now and then out of
    order, in the inspector's cells, a neighbour's cell or outside, some inaccurate, some
    re-sent (identical or edited)."""
    places = [
        *(CENTRES[UNITS[0]],) * 3,
        *(CENTRES[UNITS[1]],) * 3,
        CENTRES[UNITS[3]],  # not on duty there
        OUTSIDE,
    ]
    items: list[dict[str, Any]] = []
    t = 0.0
    for _ in range(n):
        roll = rng.random()
        if items and roll < 0.08:
            items.append(dict(rng.choice(items)))  # an identical re-send
            continue
        if items and roll < 0.12:
            items.append({**rng.choice(items), "description": "改了"})  # a different body
            continue
        t += rng.choice([5, 20, 60, 300, 900])
        lon, lat = rng.choice(places)
        items.append(
            {
                "key": len(items),
                "lon": lon + rng.uniform(-0.002, 0.002),
                "lat": lat + rng.uniform(-0.002, 0.002),
                "observed_at": at(t - rng.choice([0, 0, 0, 0, 400])),
                "accuracy_m": rng.choice([5, 10, 30, 150]),
                "kind": rng.choice(["patrol", "patrol", "issue"]),
            }
        )
    return items


def bodies(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items with one fresh UUID per key (re-sends share their original's)."""
    ids: dict[int, str] = {}
    return [
        {k: v for k, v in item.items() if k != "key"}
        | {"id": ids.setdefault(item["key"], str(uuid.uuid4()))}
        for item in items
    ]


def outcome(answer: dict[str, Any]) -> tuple[Any, ...]:
    report = answer.get("report") or answer
    return (
        answer["status"],
        report.get("cell_code"),
        tuple(report.get("flags") or ()),
        report.get("counted"),
    )


@pytest.mark.parametrize("seed", range(4))
def test_a_batch_files_every_item_as_posting_them_one_by_one_would(field: Field, seed: int) -> None:
    items = random_sequence(random.Random(seed), 40)
    one_by_one = []
    for body in bodies(items):
        r = field.client.post("/api/v1/reports", json=body, headers=field.headers("insp"))
        one_by_one.append(outcome({"status": r.status_code, **r.json()}))
    together = [outcome(a) for a in batch(field, bodies(items), user="twin")]

    assert together == one_by_one
    assert {s for s, *_ in together} >= {200, 201, 409}
    assert any("impossible_speed" in flags for _, _, flags, _ in together)
