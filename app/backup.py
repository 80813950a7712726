"""`gridwatch backup PATH` / `gridwatch restore PATH`: the database (pg_dump, custom format)
and the photo store in one tar file, with a manifest of SHA-256 hashes.

Restore is all-or-nothing on the database side (pg_restore --single-transaction) and checks
every photo against the manifest before it touches the store; afterwards the audit chain is
verified, so a restored copy proves it is the same record."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from app import localdb
from app.config import get_settings
from app.domain.errors import DomainError

FORMAT = "gridwatch-backup/1"


@dataclass
class BackupSummary:
    path: Path
    database_bytes: int
    photos: int
    audit_seq: int
    audit_head: str


def _tool(name: str) -> str:
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


def _libpq(url: str) -> str:
    """psycopg/SQLAlchemy URL → a plain libpq URL for the command-line tools."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _run(args: list[str]) -> None:
    # Never wait for ever on a lock held by a running server: fail and say so.
    env = {**os.environ, "PGOPTIONS": "-c lock_timeout=30s"}
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise DomainError(f"{Path(args[0]).name} failed: {' | '.join(tail)}")


def backup(url: str, target: Path, audit_seq: int, audit_head: str) -> BackupSummary:
    store = get_settings().photo_store
    with tempfile.TemporaryDirectory(prefix="gridwatch-backup-") as tmp:
        dump = Path(tmp) / "database.dump"
        _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(dump), _libpq(url)])
        photos = sorted(p for p in store.rglob("*") if p.is_file()) if store.exists() else []
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "created_at": datetime.now(UTC).isoformat(),
            "audit_seq": audit_seq,
            "audit_head": audit_head,
            "database": {"path": "database.dump", "sha256": _sha256(dump)},
            "photos": [
                {"path": f"photos/{p.relative_to(store).as_posix()}", "sha256": _sha256(p)}
                for p in photos
            ],
        }
        (Path(tmp) / "manifest.json").write_text(json.dumps(manifest, indent=2))
        partial = target.with_name(target.name + ".partial")
        with tarfile.open(partial, "w") as tar:
            tar.add(Path(tmp) / "manifest.json", "manifest.json")
            tar.add(dump, "database.dump")
            for p in photos:
                tar.add(p, f"photos/{p.relative_to(store).as_posix()}")
        partial.replace(target)  # a backup file exists only once it is complete
        return BackupSummary(target, dump.stat().st_size, len(photos), audit_seq, audit_head)


def _safe_member(name: str) -> bool:
    parts = Path(name).parts
    return bool(parts) and not Path(name).is_absolute() and ".." not in parts


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
                bad = [m.name for m in members if not _safe_member(m.name) or not m.isfile()]
                bad = [n for n in bad if not (n.startswith("photos") and not Path(n).suffix)]
                if bad:
                    raise DomainError(f"{source}: unexpected entries {bad[:3]}")
                tar.extractall(root, filter="data")
        except tarfile.TarError as exc:
            raise DomainError(f"{source}: not a gridwatch backup ({exc})") from None
        manifest_path = root / "manifest.json"
        if not manifest_path.exists():
            raise DomainError(f"{source}: no manifest.json, not a gridwatch backup")
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("format") != FORMAT:
            raise DomainError(f"{source}: unknown backup format {manifest.get('format')!r}")
        for item in [manifest["database"], *manifest["photos"]]:
            path = root / item["path"]
            if not path.is_file() or _sha256(path) != item["sha256"]:
                raise DomainError(f"{source}: {item['path']} is missing or damaged")
        _run(
            [
                _tool("pg_restore"),
                "--clean",
                "--if-exists",
                "--no-owner",
                "--exit-on-error",
                "--single-transaction",
                "--dbname",
                _libpq(url),
                str(root / "database.dump"),
            ]
        )
        store = get_settings().photo_store
        for item in manifest["photos"]:
            target = store / Path(item["path"]).relative_to("photos")
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists() or _sha256(target) != item["sha256"]:
                shutil.copyfile(root / item["path"], target)
        return dict(manifest)
