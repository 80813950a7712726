"""One rule, one place: a threshold is one setting, and every answer that depends on it follows
it — the gaps now (maintained summaries, kept by the database's triggers) and at a past
instant (the history, with the value as a query parameter), the GeoJSON gaps, the map tiles
and the spot checks. Changing the setting is the only edit: the server's start writes the
values the database's functions read and rebuilds what the old values computed."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from pyproj import Geod
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from app.config import get_settings
from app.domain.hotspots import lifecycle
from app.domain.status import rebuild_summaries
from app.main import create_app
from app.models import RuleValues, Source
from app.rules import STATUSES, database_values
from tests.api.test_tiles_and_pages import tile_of
from tests.factories import CENTRES, UNITS, Field, hotspot_body, report_body, staffed_field

GEOD = Geod(ellps="WGS84")


@pytest.fixture
def field(client: TestClient, db: Session) -> Field:
    return staffed_field(client, db)


@contextmanager
def restarted(field: Field, database_url: str) -> Iterator[Field]:
    """The same data behind a server started afresh with the settings of now."""
    with TestClient(create_app(database_url)) as client:
        yield Field(client, field.db)


def post(field: Field, path: str, body: dict[str, Any], user: str = "sup") -> dict[str, Any]:
    r = field.client.post(path, json=body, headers=field.headers(user))
    assert r.status_code in (200, 201), r.text
    return r.json()  # type: ignore[no-any-return]


def get(field: Field, path: str, **params: Any) -> Any:
    r = field.client.get(path, params=params, headers=field.headers("sup"))
    assert r.status_code == 200, r.text
    return r.json() if "json" in r.headers["content-type"] else r.content


def reasons_of(cells: list[dict[str, Any]], code: str) -> list[str]:
    return next((c["reasons"] for c in cells if c["code"] == code), [])


def what_each_answer_says(field: Field, reason: str, past: datetime) -> dict[str, bool]:
    """Whether each answer gives UNITS[0] `reason`: now, at `past`, as GeoJSON, on the map."""
    geo = get(field, "/api/v1/gaps", format="geojson")["features"]
    tile = mapbox_vector_tile.decode(get(field, "/tiles/cells/{}/{}/{}.pbf".format(*ZXY)))
    on_map = {f["properties"]["code"]: f["properties"] for f in tile["cells"]["features"]}
    return {
        "gaps now": reason in reasons_of(get(field, "/api/v1/gaps")["cells"], UNITS[0]),
        "gaps past": reason
        in reasons_of(get(field, "/api/v1/gaps", as_of=past.isoformat())["cells"], UNITS[0]),
        "gaps geojson": reason in reasons_of([f["properties"] for f in geo], UNITS[0]),
        "map tile": reason in on_map[UNITS[0]]["reasons"].split(","),
    }


ZXY = tile_of(*CENTRES[UNITS[0]], 14)


def source_stop(field: Field, source_id: int) -> dict[str, Any]:
    plan = get(field, "/api/v1/spot-checks", n=50, seed=7)
    return next(s for s in plan["stops"] if s["kind"] == "source" and s["ref"] == str(source_id))


def test_a_patrol_100_m_from_a_source_inspects_it_with_a_120_m_radius_not_with_50(
    field: Field, db: Session, database_url: str, rule_settings: Callable[..., None]
) -> None:
    now = datetime.now(UTC)
    lon, lat = CENTRES[UNITS[0]]
    source = post(
        field, "/api/v1/sources", {"type": "outfall", "name": "排口", "lat": lat, "lon": lon}
    )
    # Surveyed two hours ago (the row's own clock is the database's).
    db.execute(update(Source).values(created_at=now - timedelta(hours=2)))
    db.commit()
    east, _, _ = GEOD.fwd(lon, lat, 90, 100)  # a patrol 100 m east, an hour ago
    patrol = report_body(UNITS[0], lon=east, observed_at=(now - timedelta(hours=1)).isoformat())
    assert post(field, "/api/v1/reports", patrol, user="insp")["counted"]
    past = now - timedelta(minutes=10)  # after both: a past instant, read from the history

    assert get_settings().source_radius_m == 50
    assert what_each_answer_says(field, "uninspected_source", past) == dict.fromkeys(
        ("gaps now", "gaps past", "gaps geojson", "map tile"), True
    )
    assert "never_patrolled" in source_stop(field, source["id"])["why"]

    rule_settings(source_radius_m=120)  # the one edit
    with restarted(field, database_url) as wider:
        assert what_each_answer_says(wider, "uninspected_source", past) == dict.fromkeys(
            ("gaps now", "gaps past", "gaps geojson", "map tile"), False
        )
        assert not {"never_patrolled", "stale"} & set(source_stop(wider, source["id"])["why"])
        # What the triggers keep from now on uses 120 m too: a source placed 100 m from the
        # patrol, and one 100 m from a patrol filed after it.
        further, _, _ = GEOD.fwd(east, lat, 90, 100)
        post(
            wider, "/api/v1/sources", {"type": "outfall", "name": "二", "lat": lat, "lon": further}
        )
        north_lon, north_lat, _ = GEOD.fwd(lon, lat, 0, 300)
        post(
            wider,
            "/api/v1/sources",
            {"type": "outfall", "name": "三", "lat": north_lat, "lon": north_lon},
        )
        assert "uninspected_source" in reasons_of(get(wider, "/api/v1/gaps")["cells"], UNITS[0])
        _, south, _ = GEOD.fwd(north_lon, north_lat, 180, 100)
        later = report_body(UNITS[0], lon=north_lon, lat=south)
        assert post(wider, "/api/v1/reports", later, user="insp")["counted"]
        assert "uninspected_source" not in reasons_of(get(wider, "/api/v1/gaps")["cells"], UNITS[0])
    held = db.scalar(select(RuleValues.source_radius_m))
    assert held == 120


def test_the_missed_problem_window_is_one_setting_for_the_summaries_and_the_history(
    field: Field, db: Session, database_url: str, rule_settings: Callable[..., None]
) -> None:
    now = datetime.now(UTC)
    found = (now - timedelta(days=15)).isoformat()
    post(field, "/api/v1/hotspots", hotspot_body(UNITS[3], source="complaint", found_at=found))
    past = datetime.now(UTC)  # after it was filed: a past instant by the time it is asked
    assert "missed_problem" in reasons_of(get(field, "/api/v1/gaps")["cells"], UNITS[3])
    assert "missed_problem" in reasons_of(
        get(field, "/api/v1/gaps", as_of=past.isoformat())["cells"], UNITS[3]
    )
    rule_settings(missed_problem_days=10)
    with restarted(field, database_url) as shorter:
        assert "missed_problem" not in reasons_of(get(shorter, "/api/v1/gaps")["cells"], UNITS[3])
        assert "missed_problem" not in reasons_of(
            get(shorter, "/api/v1/gaps", as_of=past.isoformat())["cells"], UNITS[3]
        )


def test_rebuilding_the_summaries_from_the_facts_gives_the_same_gaps(field: Field) -> None:
    db = field.db
    now = datetime.now(UTC)
    lon, lat = CENTRES[UNITS[0]]
    post(field, "/api/v1/sources", {"type": "outfall", "name": "排口", "lat": lat, "lon": lon})
    patrol = report_body(UNITS[0], observed_at=(now - timedelta(hours=1)).isoformat())
    post(field, "/api/v1/reports", patrol, user="insp")
    post(field, "/api/v1/hotspots", hotspot_body(UNITS[3], source="complaint"))
    h = post(field, "/api/v1/hotspots", hotspot_body(UNITS[1]))
    post(field, f"/api/v1/hotspots/{h['id']}/transitions", {"to": "accepted", "note": "立案"})
    deadline = now + timedelta(hours=1)
    step = {"to": "dispatched", "assignee": "insp", "deadline": deadline.isoformat()}
    post(field, f"/api/v1/hotspots/{h['id']}/transitions", step | {"note": "派遣"})
    later = (deadline + timedelta(hours=1)).isoformat()  # still read from the summaries

    def answers() -> list[Any]:
        return [
            (body["cells"], body["summary"])
            for body in (get(field, "/api/v1/gaps"), get(field, "/api/v1/gaps", as_of=later))
        ]

    before = answers()
    assert "uninspected_source" not in reasons_of(before[0][0], UNITS[0])
    assert "missed_problem" in reasons_of(before[0][0], UNITS[3])
    assert "overdue_hotspot" in reasons_of(before[1][0], UNITS[1])
    # Summaries lost (as after a bulk load that went around them): the answer changes...
    db.execute(
        text(
            "UPDATE cell_status SET last_patrol_at = NULL, open_hotspots = 0, "
            "running_deadlines = '{}', next_deadline = NULL, has_leader = NULL, "
            "missed_until = '{}'; UPDATE sources SET inspected_at = NULL"
        )
    )
    db.commit()
    assert answers() != before
    # ...and comes back from the facts.
    rebuild_summaries(db)
    db.commit()
    assert answers() == before


def test_the_database_holds_the_rule_values_and_status_sets_of_app_rules(
    db: Session,
) -> None:
    held = db.execute(select(RuleValues)).scalar_one()
    assert {k: getattr(held, k) for k in database_values()} == database_values()
    assert set(lifecycle.STEPS) == set(STATUSES)
    check = db.scalar(
        text(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conname = 'ck_hotspots_status'"
        )
    )
    assert sorted(part.split("'")[1] for part in check.split("ARRAY[")[1].split(",")) == sorted(
        STATUSES
    )


def test_a_complaint_rejected_as_unfounded_is_missed_nowhere(field: Field) -> None:
    """Gaps, indicators and the discipline export count the same missed problems."""
    now = datetime.now(UTC)
    found = (now - timedelta(hours=1)).isoformat()
    kept, unfounded = (
        post(field, "/api/v1/hotspots", hotspot_body(UNITS[3], source="complaint", found_at=found))
        for _ in range(2)
    )
    post(field, f"/api/v1/hotspots/{unfounded['id']}/transitions", {"to": "rejected", "note": "否"})
    period = {"from": (now - timedelta(days=1)).isoformat(), "to": now.isoformat()}
    gap = next(c for c in get(field, "/api/v1/gaps")["cells"] if c["code"] == UNITS[3])
    exported = field.client.get(
        "/api/v1/exports/missed-problems", params=period, headers=field.headers("disc")
    ).json()["hotspots"]
    ranked = get(field, "/api/v1/indicators", by="cell", **period)["rows"]
    counted = next(r for r in ranked if r["code"] == UNITS[3])["counts"]["missed"]
    assert (gap["missed_problems"], [r["hotspot_id"] for r in exported], counted) == (
        1,
        [kept["id"]],
        1,
    )
