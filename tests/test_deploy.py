"""The production compose file and image (docker-compose.prod.yml, Dockerfile, deploy/): the
parts fit together — the app as the non-owner role through PgBouncer in transaction mode,
migrations as the owner, the proxy's address trusted and nobody else's, the standby made by
pg_basebackup -R — and the migrate step's script runs for real against PostGIS."""

from __future__ import annotations

import os
import subprocess
import sys
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Any

import psycopg
import yaml
from sqlalchemy.engine import make_url

from app.config import PROJECT_ROOT, Settings

COMPOSE = PROJECT_ROOT / "docker-compose.prod.yml"


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_the_app_connects_as_the_non_owner_role_and_migrations_as_the_owner() -> None:
    services = _compose()["services"]
    app_env, migrate_env = services["app"]["environment"], services["migrate"]["environment"]
    app_url = make_url(app_env["GRIDWATCH_DATABASE_URL"])
    assert (app_url.username, app_url.host, app_url.port) == ("gridwatch_app", "pgbouncer", 6432)
    read_url = make_url(app_env["GRIDWATCH_READ_DATABASE_URL"])
    assert (read_url.username, read_url.database) == ("gridwatch_app", "gridwatch_read")
    owner = make_url(migrate_env["GRIDWATCH_DATABASE_URL"])
    assert (owner.username, owner.host) == (services["db"]["environment"]["POSTGRES_USER"], "db")
    assert services["migrate"]["command"] == ["sh", "/usr/local/bin/gridwatch-migrate"]
    assert services["app"]["depends_on"]["migrate"] == {
        "condition": "service_completed_successfully"
    }
    assert "migrate" not in " ".join(services["app"]["command"])


def test_the_months_ahead_are_made_daily_by_the_owner() -> None:
    services = _compose()["services"]
    partitions = services["partitions"]
    owner = make_url(partitions["environment"]["GRIDWATCH_DATABASE_URL"])
    assert (owner.username, owner.host) == (services["db"]["environment"]["POSTGRES_USER"], "db")
    loop = " ".join(partitions["command"])
    assert "gridwatch db partitions" in loop and "sleep 86400" in loop
    assert partitions["restart"] == "unless-stopped"
    assert partitions["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def test_only_the_proxy_is_trusted_and_the_settings_accept_the_app_environment() -> None:
    compose = _compose()
    services = compose["services"]
    proxy_address = services["proxy"]["networks"]["front"]["ipv4_address"]
    subnet = compose["networks"]["front"]["ipam"]["config"][0]["subnet"]
    assert ip_address(proxy_address) in ip_network(subnet)
    env = services["app"]["environment"]
    assert env["GRIDWATCH_TRUSTED_PROXIES"] == proxy_address
    assert compose["networks"]["data"]["internal"] is True  # the databases: no way out
    assert "data" not in services["proxy"]["networks"]
    settings = Settings(
        trusted_proxies=env["GRIDWATCH_TRUSTED_PROXIES"],
        log_format=env["GRIDWATCH_LOG_FORMAT"],
        metrics_token="",  # as `${GRIDWATCH_METRICS_TOKEN:-}` writes an unset one
    )
    assert settings.trusted_proxy_list == [proxy_address] and settings.metrics_token is None


def test_pgbouncer_pools_per_transaction_and_the_standby_is_a_base_backup() -> None:
    pgbouncer = (PROJECT_ROOT / "deploy/pgbouncer/entrypoint.sh").read_text()
    assert "pool_mode = transaction" in pgbouncer
    assert "gridwatch_read = host=${REPLICA_HOST:-replica}" in pgbouncer
    replica = (PROJECT_ROOT / "deploy/postgres/replica-entrypoint.sh").read_text()
    assert "pg_basebackup" in replica and " -R " in replica
    primary = _compose()["services"]["db"]["command"]
    assert "wal_level=replica" in primary
    # A long read on the standby is not cancelled because the primary vacuumed its rows.
    assert "hot_standby_feedback=on" in _compose()["services"]["replica"]["command"]
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert "postgresql-client" in dockerfile and "GRIDWATCH_WORKERS=" in dockerfile
    assert "--workers" not in dockerfile.split("CMD", 1)[1]  # from GRIDWATCH_WORKERS instead


def test_the_migrate_step_gives_the_app_role_a_login_and_nothing_more(
    database_url: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "GRIDWATCH_DATABASE_URL": database_url,
        "GRIDWATCH_APP_PASSWORD": "app-password-for-this-test",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "GRIDWATCH_DATA_DIR": str(tmp_path),
    }
    done = subprocess.run(
        ["sh", str(PROJECT_ROOT / "deploy/migrate.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    try:
        assert done.returncode == 0, done.stderr
        as_app = make_url(database_url).set(
            username="gridwatch_app", password="app-password-for-this-test"
        )
        with psycopg.connect(as_app.render_as_string(hide_password=False)) as conn:
            row = conn.execute(
                "SELECT current_user, pg_has_role('pg_monitor', 'MEMBER'), "
                "has_table_privilege('audit_log', 'UPDATE'), rolsuper, rolcreaterole, "
                "current_setting('timezone'), current_setting('plan_cache_mode'), "
                "current_setting('jit') FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
        # The session settings without any startup options, as through PgBouncer.
        assert row == (
            "gridwatch_app",
            True,
            False,
            False,
            False,
            "UTC",
            "force_custom_plan",
            "off",
        )
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:  # the shared cluster's role
            conn.execute("ALTER ROLE gridwatch_app NOLOGIN PASSWORD NULL")
            conn.execute("ALTER ROLE gridwatch_app RESET ALL")


def _compose_config(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` (Debian's, no daemon needed): the file parsed, interpolated and
    validated against the Compose schema, as `up` would before starting anything."""
    return subprocess.run(
        ["docker-compose", "--project-directory", str(PROJECT_ROOT), "-f", str(path)]
        + ["config", "--quiet"],
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _example_env() -> dict[str, str]:
    """deploy/prod.env.example with its blanks filled, as an operator's .env would be."""
    env = {}
    for line in (PROJECT_ROOT / "deploy" / "prod.env.example").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            env[key.strip()] = value.split("#")[0].strip() or f"filled-{key.strip().lower()}"
    return env


def test_both_compose_files_are_valid_compose_with_the_example_settings() -> None:
    prod = _compose_config(COMPOSE, _example_env())
    assert prod.returncode == 0, prod.stderr
    dev = _compose_config(
        PROJECT_ROOT / "docker-compose.yml", {"POSTGRES_PASSWORD": "x", "GRIDWATCH_SECRET_KEY": "y"}
    )
    assert dev.returncode == 0, dev.stderr


def test_a_missing_password_stops_the_production_compose_before_anything_starts() -> None:
    env = _example_env()
    del env["GRIDWATCH_APP_PASSWORD"]
    done = _compose_config(COMPOSE, env)
    assert done.returncode != 0
    assert "set GRIDWATCH_APP_PASSWORD" in done.stderr
