"""The embedded PostGIS cluster: created, started and stopped by gridwatch itself.

Used whenever GRIDWATCH_DATABASE_URL is unset. The cluster runs from the machine's
PostgreSQL + PostGIS binaries. PostgreSQL refuses to run as root, so when gridwatch is
invoked as root the cluster runs as the `postgres` OS user, and its files live where that
user can reach them: the project's data folder if every parent is traversable, otherwise
/var/lib/gridwatch/<key of this checkout>.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from app.config import get_settings

DB_NAME = "gridwatch"
DB_USER = "postgres"
DEFAULT_PORT = 54329
RUN_AS = "postgres"


class LocalDbError(RuntimeError):
    """The embedded cluster cannot be created, started or reached; the message says why."""


@dataclass(frozen=True)
class Cluster:
    root: Path  # holds data/, run/ (socket), log, port

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def log(self) -> Path:
        return self.root / "postgresql.log"

    @property
    def port_file(self) -> Path:
        return self.root / "port"

    def port(self) -> int | None:
        try:
            return int(self.port_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def url(self, database: str = DB_NAME) -> str:
        port = self.port()
        if port is None:
            raise LocalDbError(
                f"the embedded database at {self.root} has not been created; "
                "run `gridwatch db start` (or set GRIDWATCH_DATABASE_URL)"
            )
        return f"postgresql://{DB_USER}@127.0.0.1:{port}/{database}"


def _is_root() -> bool:
    return os.geteuid() == 0


def _traversable_by_others(path: Path) -> bool:
    for p in [path, *path.parents]:
        if p.exists() and not os.stat(p).st_mode & 0o001:
            return False
    return True


def cluster() -> Cluster:
    data_dir = get_settings().data_dir.resolve()
    if not _is_root() or _traversable_by_others(data_dir.parent):
        return Cluster(data_dir / "pg")
    key = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    return Cluster(Path("/var/lib/gridwatch") / key)


def pg_bindir() -> Path:
    """The newest installed PostgreSQL whose share folder has the PostGIS extension."""
    override = os.environ.get("GRIDWATCH_PG_BINDIR")
    if override:
        return Path(override)
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
        reverse=True,
    )
    for initdb in candidates:
        version = initdb.parent.parent.name
        if Path(f"/usr/share/postgresql/{version}/extension/postgis.control").exists():
            return initdb.parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise LocalDbError(
        "no PostgreSQL server with PostGIS found; install it with "
        "`apt-get install -y postgresql-15-postgis-3` (as root) or set GRIDWATCH_DATABASE_URL"
    )


def _run(args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    if _is_root():
        args = ["runuser", "-u", RUN_AS, "--", *args]
    result = subprocess.run(args, capture_output=True, text=True, cwd="/")
    if check and result.returncode != 0:
        raise LocalDbError(f"{' '.join(args)} failed:\n{result.stdout}{result.stderr}".strip())
    return result


def _port_free(port: int) -> bool:
    """Free to listen on, as PostgreSQL would (SO_REUSEADDR: connections of the cluster's
    previous run lingering in TIME_WAIT do not make its own port look taken, so a restart
    keeps the port that clients already know)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def is_running(c: Cluster | None = None) -> bool:
    c = c or cluster()
    if not (c.data / "PG_VERSION").exists():
        return False
    return (
        _run([str(pg_bindir() / "pg_ctl"), "-D", str(c.data), "status"], check=False).returncode
        == 0
    )


def _prepare_dirs(c: Cluster) -> None:
    c.root.mkdir(parents=True, exist_ok=True)
    c.socket_dir.mkdir(exist_ok=True)
    if _is_root():
        try:
            owner = pwd.getpwnam(RUN_AS)
        except KeyError as exc:
            raise LocalDbError(
                f"the OS user {RUN_AS!r} does not exist; install PostgreSQL from apt "
                "(`apt-get install -y postgresql-15-postgis-3`), which creates it"
            ) from exc
        for p in (c.root, c.socket_dir):
            os.chown(p, owner.pw_uid, owner.pw_gid)
    os.chmod(c.root, 0o700)


def _initdb(c: Cluster, bindir: Path) -> None:
    _run(
        [
            str(bindir / "initdb"),
            "-D",
            str(c.data),
            "-U",
            DB_USER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ]
    )
    conf = c.data / "postgresql.conf"
    extra = (
        "\n# gridwatch embedded cluster\n"
        "listen_addresses = '127.0.0.1'\n"
        f"unix_socket_directories = '{c.socket_dir}'\n"
        "jit = off\n"
        "max_connections = 200\n"
        "shared_buffers = 256MB\n"
        "fsync = on\n"
        # Streaming standbys may copy and follow it (pg_basebackup -R; initdb's pg_hba
        # already trusts replication connections from 127.0.0.1).
        "wal_level = replica\n"
        "max_wal_senders = 10\n"
    )
    # Append as the cluster owner so file ownership stays right.
    subprocess.run(
        ["runuser", "-u", RUN_AS, "--", "tee", "-a", str(conf)]
        if _is_root()
        else ["tee", "-a", str(conf)],
        input=extra,
        text=True,
        capture_output=True,
        check=True,
    )


def start() -> Cluster:
    """Create (first time) and start the embedded cluster; create the database. Idempotent."""
    c = cluster()
    bindir = pg_bindir()
    _prepare_dirs(c)
    if not (c.data / "PG_VERSION").exists():
        _initdb(c, bindir)
    if not is_running(c):
        port = c.port()
        if port is None or not _port_free(port):
            port = DEFAULT_PORT if _port_free(DEFAULT_PORT) else _free_port()
        c.port_file.write_text(f"{port}\n")
        _run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(c.data),
                "-l",
                str(c.log),
                "-w",
                "-t",
                "60",
                "-o",
                f"-p {port}",
                "start",
            ]
        )
    _ensure_database(c)
    return c


def _ensure_database(c: Cluster) -> None:
    with psycopg.connect(c.url("postgres"), autocommit=True, connect_timeout=10) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone()
        if found is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))


def stop() -> bool:
    c = cluster()
    if not is_running(c):
        return False
    _run([str(pg_bindir() / "pg_ctl"), "-D", str(c.data), "-m", "fast", "-w", "stop"])
    return True


def status() -> dict[str, object]:
    c = cluster()
    running = is_running(c) if (c.data / "PG_VERSION").exists() else False
    return {
        "root": str(c.root),
        "created": (c.data / "PG_VERSION").exists(),
        "running": running,
        "port": c.port(),
        "url": c.url() if c.port() is not None else None,
        "log": str(c.log),
        "run_as": RUN_AS if _is_root() else pwd.getpwuid(os.geteuid()).pw_name,
    }


def start_standby(source_url: str, root: Path, slot: str | None = None) -> Cluster:
    """A streaming standby of the server at source_url: copied with `pg_basebackup -R` into
    root/data and started on a free loopback port, as the cluster's OS user (root must be
    reachable by that user). With `slot`, a physical replication slot of that name is made
    on the server, which then keeps the WAL the standby still needs (drop it when done). For
    test harnesses: the copy is not synced to disk. Raises LocalDbError when the server
    refuses replication."""
    c = Cluster(root)
    _prepare_dirs(c)
    _run(
        [
            str(pg_bindir() / "pg_basebackup"),
            *("-d", source_url, "-D", str(c.data)),
            *("-R", "-X", "stream", "-c", "fast", "--no-sync"),
            *(("-C", "-S", slot) if slot else ()),
        ]
    )
    c.port_file.write_text(f"{_free_port()}\n")
    resume_standby(c)
    return c


def resume_standby(c: Cluster) -> None:
    """Start the standby at c on its port (again, after stop_standby)."""
    options = f"-p {c.port()} -k {c.socket_dir} -c shared_buffers=32MB -c hot_standby=on"
    pg_ctl = str(pg_bindir() / "pg_ctl")
    _run([pg_ctl, "-D", str(c.data), "-l", str(c.log), "-w", "-t", "120", "-o", options, "start"])


def stop_standby(c: Cluster) -> None:
    """Stop the standby at c (its files stay)."""
    _run([str(pg_bindir() / "pg_ctl"), "-D", str(c.data), "-m", "fast", "-w", "stop"], check=False)
