"""The signing secret: GRIDWATCH_SECRET_KEY when set; otherwise one generated on first start
and kept with the data, like the embedded cluster.

There is no built-in secret anywhere in the source. The generated one lives in
`<data_dir>/secret_key` (mode 0600, in a folder of mode 0700 when gridwatch creates it). It is
created atomically — written to a private temporary file, then hard-linked into place, which
fails if another process (a second worker starting at the same moment) got there first, in
which case both read the winner's — so every process of one installation signs with the same
secret, and a restart keeps sessions valid. Deleting the file (or changing
GRIDWATCH_SECRET_KEY) rotates it: every token and session cookie then stops working."""

from __future__ import annotations

import os
import secrets
import stat
import tempfile
import threading
from pathlib import Path

from app.config import MIN_SECRET_LENGTH, get_settings

SECRET_FILE = "secret_key"

_kept: dict[Path, bytes] = {}
_lock = threading.Lock()


class SecretFileError(RuntimeError):
    """The kept secret cannot be read or written; the message says which file and why."""


def secret_file() -> Path:
    return get_settings().data_dir.resolve() / SECRET_FILE


def signing_key(*, reload: bool = False) -> bytes:
    """The secret that signs tokens and CSRF proofs (read once per process; `reload` reads
    the kept file again, as a new process would)."""
    configured = get_settings().secret_key
    if configured is not None:
        return configured.get_secret_value().encode()
    path = secret_file()
    with _lock:
        if reload or path not in _kept:
            _kept[path] = _read_or_create(path)
        return _kept[path]


def _read_or_create(path: Path) -> bytes:
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # mkstemp creates the file with mode 0600, readable by this user only.
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{SECRET_FILE}.")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(secrets.token_urlsafe(48).encode() + b"\n")
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass  # another process created it first: use theirs
        finally:
            os.unlink(temporary)
    except OSError as exc:
        raise SecretFileError(
            f"cannot create the signing secret {path}: {exc.strerror or exc}; make "
            "GRIDWATCH_DATA_DIR writable or set GRIDWATCH_SECRET_KEY"
        ) from None
    return _read(path)


def _read(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        if stat.S_IMODE(mode) & 0o077:
            raise SecretFileError(
                f"the signing secret {path} is readable by other users (mode "
                f"{stat.S_IMODE(mode):04o}); run `chmod 600 {path}`, or delete it to "
                "generate a new one (every session then ends)"
            )
        value = path.read_bytes().strip()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise SecretFileError(
            f"cannot read the signing secret {path}: {exc.strerror or exc}"
        ) from None
    if len(value) < MIN_SECRET_LENGTH:
        raise SecretFileError(
            f"the signing secret {path} holds fewer than {MIN_SECRET_LENGTH} characters; "
            "delete it to generate a new one (every session then ends)"
        )
    return value
