"""Hostile input from the app's own OpenAPI document (schemathesis): every operation, signed
in as the admin (who passes every permission check and so reaches the deepest code), with a
bounded budget of generated requests. No 5xx, no answer that breaks the documented schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)

from app.config import get_settings
from app.db import make_engine, make_sessionmaker
from app.main import create_app
from app.serving import serve_in_thread
from tests.conftest import empty_all_tables
from tests.demo_city import seed_demo_city
from tests.factories import bearer

EXAMPLES = 10  # per operation; ~40 operations → about 400 requests, about a minute


@pytest.fixture(scope="module")
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    settings_ = get_settings()
    photo_dir, settings_.photo_dir = settings_.photo_dir, tmp_path_factory.mktemp("photos")
    keys, settings_.open311_keys = settings_.open311_keys, "hotline-key"
    engine = make_engine(database_url)
    seed_demo_city(engine)
    with make_sessionmaker(engine)() as session:
        headers = bearer(session, "admin")

    def fresh_headers() -> dict[str, str]:
        with make_sessionmaker(engine)() as session:
            return bearer(session, "admin")

    try:
        with serve_in_thread(create_app(database_url)) as url:
            yield {"url": url, "headers": headers, "fresh_headers": fresh_headers}
    finally:
        empty_all_tables(engine)
        engine.dispose()
        settings_.photo_dir, settings_.open311_keys = photo_dir, keys


# The document needs no database: the app only connects in its lifespan.
schema = schemathesis.openapi.from_dict(create_app("postgresql://unused@localhost/none").openapi())


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same requests every run: a failure is reproducible
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_5xx_and_no_answer_outside_the_schema(case: Any, live: dict[str, Any]) -> None:
    headers = live["headers"]
    if case.path == "/api/v1/auth/logout":
        headers = live["fresh_headers"]()  # logging out must not end the shared session
    if (case.path_parameters or {}).get("username") == "admin":
        case.path_parameters["username"] = "not-the-admin"  # nor may disabling the admin
    case.call_and_validate(
        base_url=live["url"],
        headers=headers,
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
    )
