"""The signing secret: none in the source; unset, one is generated on first start and kept
with the data (0600), the same after a restart; tokens must carry sub, sid, iat and exp."""

from __future__ import annotations

import ast
import os
import random
import stat
import threading
import uuid
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError
from sqlalchemy import text
from sqlalchemy.orm import Session

from app import secret
from app.config import PROJECT_ROOT, Settings, get_settings
from app.domain.people.sessions import open_session
from app.main import create_app
from app.secret import SecretFileError, signing_key
from app.security import read_access_token
from tests.factories import PASSWORD, make_user, sign_in

SOURCE_DIRS = ("app", "map_ui", "migrations", "bench", "scripts")


@pytest.fixture
def no_secret_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """As a fresh installation: GRIDWATCH_SECRET_KEY unset, the data folder empty (a
    temporary one: the generated secret must not land in this checkout)."""
    monkeypatch.setattr(get_settings(), "secret_key", None)
    monkeypatch.setattr(get_settings(), "data_dir", tmp_path / "data")
    yield tmp_path / "data" / "secret_key"


def source_strings() -> set[str]:
    """Every string literal in the project's Python source (f-string pieces included)."""
    found: set[str] = set()
    for folder in SOURCE_DIRS:
        for path in (PROJECT_ROOT / folder).rglob("*.py"):
            if "node_modules" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
                    value = node.value
                    found.add(value.decode("latin-1") if isinstance(value, bytes) else value)
    return found


def forged(key: str, person_id: int, session_id: uuid.UUID) -> str | None:
    now = datetime.now(UTC)
    claims = {
        "sub": str(person_id),
        "sid": str(session_id),
        "iat": now - timedelta(minutes=1),
        "exp": now + timedelta(hours=1),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyJWT warns about short keys
        try:
            return jwt.encode(claims, key, algorithm="HS256")
        except jwt.PyJWTError:
            return None  # a key PyJWT refuses to sign with cannot make a token either


@pytest.mark.parametrize("address", ["127.0.0.1", "203.0.113.9"], ids=["loopback", "elsewhere"])
def test_no_string_in_the_source_signs_a_token_the_server_accepts(
    database_url: str, db: Session, no_secret_configured: Path, address: str
) -> None:
    admin = make_user(db, "admin", "admin")
    strings = source_strings()
    assert len(strings) > 1000  # the scan found the source
    with TestClient(create_app(database_url), client=(address, 40000)) as c:
        genuine = {"Authorization": f"Bearer {open_session(db, admin.id, address)}"}
        db.commit()
        assert c.get("/api/v1/cells", headers=genuine).status_code == 200
        session_id = db.execute(text("SELECT id FROM signin_sessions")).scalar_one()
        tokens = {key: forged(key, admin.id, session_id) for key in sorted(strings)}
        signed = {key: token for key, token in tokens.items() if token is not None}
        # Every page and route reads a bearer through read_access_token: asked directly for
        # each string, and over HTTP for a fixed sample, which must agree with it.
        accepted = [key for key, token in signed.items() if read_access_token(token)]
        # The check can say yes: the server's own key passes it.
        assert read_access_token(forged(signing_key(), admin.id, session_id) or "")
        sample = random.Random(20261130).sample(sorted(signed), 40)
        over_http = [
            key
            for key in sample
            if c.get(
                "/api/v1/cells", headers={"Authorization": f"Bearer {signed[key]}"}
            ).status_code
            != 401
        ]
    assert accepted == []
    assert over_http == []


def test_tokens_must_carry_sub_sid_iat_and_exp(client: TestClient, db: Session) -> None:
    admin = make_user(db, "admin", "admin")
    token = open_session(db, admin.id, "testclient")
    db.commit()
    claims = jwt.decode(token, signing_key(), algorithms=["HS256"])
    assert set(claims) == {"sub", "sid", "iat", "exp"}
    for missing in ("exp", "iat", "sub", "sid"):
        partial = {k: v for k, v in claims.items() if k != missing}
        bad = jwt.encode(partial, signing_key(), algorithm="HS256")
        r = client.get("/api/v1/cells", headers={"Authorization": f"Bearer {bad}"})
        assert r.status_code == 401, missing
    whole = jwt.encode(claims, signing_key(), algorithm="HS256")
    assert client.get("/api/v1/cells", headers={"Authorization": f"Bearer {whole}"}).is_success


def test_the_generated_secret_is_private_and_survives_a_restart(
    database_url: str, db: Session, no_secret_configured: Path
) -> None:
    make_user(db, "admin", "admin")
    with TestClient(create_app(database_url)) as c:
        headers = sign_in(c, "admin")
    path = no_secret_configured
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_bytes().strip()) >= 32
    assert not list(path.parent.glob(".secret_key.*"))  # no temporary file left behind
    kept = path.read_bytes()
    with TestClient(create_app(database_url)) as c:  # a new process reads the file again
        assert c.get("/api/v1/cells", headers=headers).status_code == 200
    assert path.read_bytes() == kept
    # Rotation: delete the file; the next start makes a new secret and old tokens end.
    path.unlink()
    with TestClient(create_app(database_url)) as c:
        assert c.get("/api/v1/cells", headers=headers).status_code == 401
        assert c.post(
            "/api/v1/auth/token", data={"username": "admin", "password": PASSWORD}
        ).is_success
    assert path.read_bytes() != kept


def test_processes_starting_at_once_agree_on_one_secret(no_secret_configured: Path) -> None:
    path = no_secret_configured
    results: list[bytes] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        results.append(secret._read_or_create(path))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and len(set(results)) == 1
    assert results[0] == path.read_bytes().strip()


def test_a_secret_file_readable_by_others_is_refused(no_secret_configured: Path) -> None:
    signing_key(reload=True)
    os.chmod(no_secret_configured, 0o644)
    with pytest.raises(SecretFileError, match="chmod 600"):
        signing_key(reload=True)


def test_the_configured_secret_wins_and_must_be_long_in_every_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GRIDWATCH_SECRET_KEY")
    with pytest.raises(ValidationError, match="32 characters"):
        Settings(env="production", secret_key=SecretStr("short"))
    with pytest.raises(ValidationError, match="32 characters"):
        Settings(env="test", secret_key=SecretStr("x" * 31))
    with pytest.raises(ValidationError, match="32 characters"):
        Settings(secret_key=SecretStr("changeme"))  # GRIDWATCH_ENV unset: development
    assert Settings(env="production", secret_key=SecretStr("x" * 40)).env == "production"
    assert Settings(env="production").secret_key is None  # unset: generated, not refused


def test_no_fixed_secret_is_left_in_the_configuration() -> None:
    import app.config

    assert not hasattr(app.config, "DEFAULT_SECRET")
    assert Settings.model_fields["secret_key"].default is None


def test_an_empty_secret_is_unset_and_a_secret_is_generated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GRIDWATCH_SECRET_KEY", "  ")  # as `${GRIDWATCH_SECRET_KEY:-}` leaves it
    assert Settings().secret_key is None
