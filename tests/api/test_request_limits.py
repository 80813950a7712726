"""Request bodies are measured while they are read, before any sign-in or route work: too
large → 413 at once, whoever sends it; each route has its own limit."""

from collections.abc import Iterator

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.config import get_settings
from tests.factories import bearer, make_user

MIB = 1024 * 1024


def test_a_large_body_is_refused_before_authentication(client: TestClient) -> None:
    r = client.post(
        "/api/v1/reports",
        content=b"[" + b" " * (2 * MIB) + b"]",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413  # not 401: nothing was read past the limit
    assert "at most 1,024 KiB" in r.json()["detail"]


def test_a_large_body_is_refused_for_a_signed_in_user_too(client: TestClient, db: Session) -> None:
    make_user(db, "insp", "inspector")
    r = client.post(
        "/api/v1/reports",
        content=b"{" + b" " * (2 * MIB) + b"}",
        headers={"Content-Type": "application/json", **bearer(db, "insp")},
    )
    assert r.status_code == 413


def test_a_streamed_body_without_a_length_is_counted_as_it_arrives(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(64):
            yield b" " * (64 * 1024)

    r = client.post(
        "/api/v1/reports", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413
    assert "content-length" not in {k.lower() for k in r.request.headers}


def test_the_offline_batch_and_photos_have_larger_limits_of_their_own(client: TestClient) -> None:
    # Past the general limit but within theirs: the request goes on, to the sign-in check.
    batch = client.post(
        "/api/v1/reports/batch",
        content=b"[" + b" " * (2 * MIB) + b"]",
        headers={"Content-Type": "application/json"},
    )
    assert batch.status_code == 401
    photo = client.post(
        "/api/v1/reports/00000000-0000-4000-8000-000000000000/photos",
        files={"file": ("p.jpg", b"\xff" * (2 * MIB), "image/jpeg")},
    )
    assert photo.status_code == 401
    huge = client.post(
        "/api/v1/reports/00000000-0000-4000-8000-000000000000/photos",
        files={
            "file": ("p.jpg", b"\xff" * (get_settings().photo_max_bytes + 2 * MIB), "image/jpeg")
        },
    )
    assert huge.status_code == 413


def test_a_false_content_length_is_refused(client: TestClient) -> None:
    r = client.post(
        "/api/v1/reports",
        content=b"{}",
        headers={"Content-Type": "application/json", "Content-Length": "1e9"},
    )
    assert r.status_code in (400, 413)
