"""`gridwatch backup PATH` / `gridwatch restore PATH`: the database (pg_dump, custom format)
and the photo store's originals in one tar file, with a manifest of SHA-256 hashes.

Both photo stores (the directory and an S3 bucket) are read and written through the same
interface (app/domain/reports/photostore.py), so the archive holds the photos' bytes either
way, and a backup taken from one kind of store restores into the other.

Restore is all-or-nothing on the database side (pg_restore's script, run by psql in one
transaction) and checks every photo against the manifest before it touches the store;
afterwards the audit chain is verified, so a restored copy proves it is the same record."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from app import clock, localdb
from app.domain.errors import DomainError
from app.domain.reports.photostore import PhotoMissing, photo_store

FORMAT = "gridwatch-backup/1"


@dataclass
class BackupSummary:
    path: Path
    database_bytes: int
    photos: int
    audit_seq: int
    audit_head: str


def pg_tool(name: str) -> str:
    """pg_dump/pg_restore of the newest PostgreSQL with PostGIS (as the embedded cluster)."""
    try:
        candidate = localdb.pg_bindir() / name
        if candidate.exists():
            return str(candidate)
    except localdb.LocalDbError:
        pass
    found = shutil.which(name)
    if found is None:
        raise DomainError(f"{name} not found: install the PostgreSQL client (postgresql-client)")
    return found


def libpq_url(url: str) -> tuple[str, dict[str, str]]:
    """A plain libpq URL for the command-line tools, without the password (which would show
    in `ps`), and the environment that carries it instead."""
    parsed = make_url(url).set(drivername="postgresql")
    env = {"PGPASSWORD": parsed.password} if parsed.password else {}
    return parsed.set(password=None).render_as_string(hide_password=False), env


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _run(args: list[str], extra_env: dict[str, str]) -> None:
    # Never wait for ever on a lock held by a running server: fail and say so.
    env = {**os.environ, "PGOPTIONS": "-c lock_timeout=30s", **extra_env}
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise DomainError(f"{Path(args[0]).name} failed: {' | '.join(tail)}")


def _tar_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(clock.now().timestamp())
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def backup(url: str, target: Path, audit_seq: int, audit_head: str) -> BackupSummary:
    """The database, then every original in the photo store (one at a time: a photo is at
    most photo_max_bytes), then the manifest of them all."""
    store = photo_store()
    with tempfile.TemporaryDirectory(prefix="gridwatch-backup-") as tmp:
        dump = Path(tmp) / "database.dump"
        target_url, env = libpq_url(url)
        _run(
            [pg_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(dump), target_url],
            env,
        )
        partial = target.with_name(target.name + ".partial")
        photos: list[dict[str, str]] = []
        with tarfile.open(partial, "w") as tar:
            tar.add(dump, "database.dump")
            for key in store.keys():
                name = f"photos/{key}"
                if PHOTO_NAME.fullmatch(name) is None:
                    continue  # a display copy (derived again on demand) or a stranger
                try:
                    data = store.get(key)
                except PhotoMissing:
                    continue  # removed since it was listed
                _tar_bytes(tar, name, data)
                photos.append({"path": name, "sha256": hashlib.sha256(data).hexdigest()})
            manifest: dict[str, Any] = {
                "format": FORMAT,
                "created_at": clock.now().isoformat(),
                "audit_seq": audit_seq,
                "audit_head": audit_head,
                "photo_store": store.kind,
                "database": {"path": "database.dump", "sha256": _sha256(dump)},
                "photos": photos,
            }
            _tar_bytes(tar, "manifest.json", json.dumps(manifest, indent=2).encode())
        partial.replace(target)  # a backup file exists only once it is complete
        return BackupSummary(target, dump.stat().st_size, len(photos), audit_seq, audit_head)


# The only names a backup holds: anything else (a path out of the store, a config file of
# the cluster) is refused before a byte is written.
PHOTO_NAME = re.compile(r"photos/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}\.(jpg|png|webp)")
FILE_NAMES = {"manifest.json", "database.dump"}
DIRECTORY = re.compile(r"photos(/[0-9a-f]{2}){0,2}")


def _allowed_file(name: str) -> bool:
    return name in FILE_NAMES or PHOTO_NAME.fullmatch(name) is not None


def restore(url: str, source: Path) -> dict[str, Any]:
    """Check the archive against its manifest, restore the database in one transaction,
    then put the photos in the store. Returns the manifest."""
    if not source.is_file():
        raise DomainError(f"{source}: no such backup file")
    with tempfile.TemporaryDirectory(prefix="gridwatch-restore-") as tmp:
        root = Path(tmp)
        try:
            with tarfile.open(source, "r") as tar:
                members = tar.getmembers()
                bad = [
                    m.name
                    for m in members
                    if not (m.isfile() and _allowed_file(m.name))
                    and not (m.isdir() and DIRECTORY.fullmatch(m.name))
                ]
                if bad:
                    raise DomainError(f"{source}: unexpected entries {bad[:3]}")
                tar.extractall(root, filter="data")
        except tarfile.TarError as exc:
            raise DomainError(f"{source}: not a gridwatch backup ({exc})") from None
        manifest_path = root / "manifest.json"
        if not manifest_path.exists():
            raise DomainError(f"{source}: no manifest.json, not a gridwatch backup")
        try:
            manifest = json.loads(manifest_path.read_text())
            items = [manifest["database"], *manifest["photos"]]
            paths = [str(item["path"]) for item in items]
            hashes = [str(item["sha256"]) for item in items]
        except (ValueError, KeyError, TypeError):
            raise DomainError(f"{source}: manifest.json is damaged") from None
        if manifest.get("format") != FORMAT:
            raise DomainError(f"{source}: unknown backup format {manifest.get('format')!r}")
        if paths[0] != "database.dump" or not all(PHOTO_NAME.fullmatch(p) for p in paths[1:]):
            raise DomainError(f"{source}: manifest.json names files a backup never holds")
        for name, digest in zip(paths, hashes, strict=True):
            path = root / name
            if not path.is_file() or _sha256(path) != digest:
                raise DomainError(f"{source}: {name} is missing or damaged")
        _restore_database(url, root / "database.dump")
        _end_other_sessions(url)
        _restore_photos(manifest["photos"], root)
        return dict(manifest)


# Run first, in the restore's transaction: the partitioned tables go whole (with their monthly
# partitions, migration 0013). pg_restore --clean would drop a partition's primary key and
# indexes one by one, which PostgreSQL refuses (they belong to the partitioned table's); with
# the tables gone, those statements (IF EXISTS) do nothing.
_DROP_PARTITIONED = """
DO $drop$
DECLARE
    t regclass;
BEGIN
    FOR t IN SELECT oid::regclass FROM pg_class
              WHERE relkind = 'p' AND relnamespace = 'public'::regnamespace AND NOT relispartition
    LOOP
        EXECUTE 'DROP TABLE ' || t::text;
    END LOOP;
END
$drop$;
"""


def _restore_database(url: str, dump: Path) -> None:
    """The dump in place of the database's objects, all or nothing: pg_restore writes the
    script (--clean: dropping what the dump holds first), psql runs it, after
    _DROP_PARTITIONED, in one transaction that stops at the first error."""
    target_url, env = libpq_url(url)
    env = {**os.environ, "PGOPTIONS": "-c lock_timeout=30s", **env}
    script = [
        pg_tool("pg_restore"),
        "--clean",
        "--if-exists",
        "--no-owner",
        # Grants are given afresh by `restore` (app/migrate.py: grant_app_role): a role they
        # name may not exist on this server.
        "--no-privileges",
        "--file",
        "-",
        str(dump),
    ]
    run = [
        pg_tool("psql"),
        "--no-psqlrc",
        "--quiet",
        "--single-transaction",
        "--set",
        "ON_ERROR_STOP=1",
        "--dbname",
        target_url,
        "--file",
        "-",
    ]
    with tempfile.TemporaryFile() as errors, tempfile.TemporaryFile() as script_errors:
        writer = subprocess.Popen(script, stdout=subprocess.PIPE, stderr=script_errors, env=env)
        reader = subprocess.Popen(
            run, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors, env=env
        )
        assert writer.stdout is not None and reader.stdin is not None
        try:
            reader.stdin.write(_DROP_PARTITIONED.encode())
            shutil.copyfileobj(writer.stdout, reader.stdin)
        except BrokenPipeError:
            pass  # psql stopped at an error: said below
        finally:
            reader.stdin.close()
            writer.stdout.close()
        wrote, ran = writer.wait(), reader.wait()
        # psql's error first: pg_restore fails too when psql stopped reading.
        for code, tool, output in ((ran, run[0], errors), (wrote, script[0], script_errors)):
            if code != 0:
                output.seek(0)
                tail = output.read().decode(errors="replace").strip().splitlines()[-3:]
                raise DomainError(f"{Path(tool).name} failed: {' | '.join(tail)}")


def _restore_photos(items: list[dict[str, str]], root: Path) -> None:
    """Put each checked original in the photo store, unless the same bytes are there."""
    store = photo_store()
    for item in items:
        key = item["path"].removeprefix("photos/")
        if store.exists(key):
            try:
                if hashlib.sha256(store.get(key)).hexdigest() == item["sha256"]:
                    continue
            except PhotoMissing:
                pass
        store.put(key, (root / item["path"]).read_bytes())


def _end_other_sessions(url: str) -> None:
    """End every other session of the restored database: a backend that knew the replaced
    PostGIS extension keeps stale catalog caches ("no spatial operator found"). App
    processes and a pooler in front (PgBouncer) reconnect afresh on their next use."""
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True, connect_timeout=10) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
