"""The photo store: where report photos (originals and display copies) are kept, behind one
small interface with two backends — a directory (the default, GRIDWATCH_PHOTO_DIR) and an
S3-compatible bucket (GRIDWATCH_PHOTO_STORE=s3: MinIO or Ceph RGW in production).

Keys are content-addressed and the same in both: `ab/cd/<sha256>.<ext>` for an original and
`ab/cd/<sha256>.display.jpg` for its display copy (in the directory store, paths under it; in
a bucket, object names under GRIDWATCH_S3_PREFIX). The same bytes always land on the same key,
so a re-sent photo is one object, and writing a key again writes the same bytes."""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from app.config import Settings, get_settings
from app.domain.errors import DomainError

# Streaming reads hand out the bytes this many at a time.
CHUNK_BYTES = 1 << 20
KEY = re.compile(r"[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}(\.display)?\.(jpg|png|webp)")
# The error codes an S3-compatible server answers when it has no room (MinIO's own, and the
# quota error of Ceph RGW and others).
S3_FULL_CODES = frozenset({"XMinioStorageFull", "QuotaExceeded", "EntityTooLarge"})
S3_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


class StorageFull(DomainError):
    status_code = 507


class StorageUnavailable(DomainError):
    status_code = 503


class PhotoMissing(LookupError):
    """No photo is stored under this key."""


@dataclass
class Opened:
    """A stored photo being read: its size, and its bytes CHUNK_BYTES at a time (the source is
    closed once they are read to the end, or when the iterator is closed)."""

    size: int
    chunks: Iterator[bytes]


class PhotoStore(Protocol):
    kind: str

    def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key`, whole or not at all (StorageFull, StorageUnavailable)."""

    def get(self, key: str) -> bytes:
        """The bytes under `key` (PhotoMissing, StorageUnavailable)."""

    def open(self, key: str) -> Opened:
        """The bytes under `key` as a stream, for large files (PhotoMissing, ...)."""

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove `key`; nothing happens if it is not there."""

    def keys(self) -> Iterator[str]:
        """Every stored key (uploads still being written are not keys)."""

    def local_path(self, key: str) -> Path | None:
        """The file of `key` when the store is a directory on this machine (served as a file,
        with ranges), else None."""


def checked_key(key: str) -> str:
    if KEY.fullmatch(key) is None:
        raise ValueError(f"not a photo store key: {key!r}")
    return key


def _write_failed(exc: OSError) -> DomainError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageFull("the photo store is full; the report itself is kept")
    return StorageUnavailable(
        f"the photo store cannot be written ({exc.strerror}); the report itself is kept"
    )


class DirectoryStore:
    """Files under one directory, each written to a temporary name, synced, then renamed: a
    reader sees a whole photo or none."""

    kind = "dir"

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / checked_key(key)

    def put(self, key: str, data: bytes) -> None:
        path = self.path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError as exc:
            raise _write_failed(exc) from None

    def get(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise PhotoMissing(key) from None
        except OSError as exc:
            raise StorageUnavailable(f"the photo store cannot be read ({exc.strerror})") from None

    def open(self, key: str) -> Opened:
        try:
            f = self.path(key).open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise PhotoMissing(key) from None
        except OSError as exc:
            raise StorageUnavailable(f"the photo store cannot be read ({exc.strerror})") from None

        def chunks() -> Iterator[bytes]:
            with f:
                yield from iter(lambda: f.read(CHUNK_BYTES), b"")

        return Opened(os.fstat(f.fileno()).st_size, chunks())

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        try:
            self.path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise _write_failed(exc) from None

    def keys(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for p in sorted(self.root.rglob("*")):
            if p.is_file() and not p.name.startswith("."):
                yield p.relative_to(self.root).as_posix()

    def local_path(self, key: str) -> Path | None:
        return self.path(key)


class S3Store:
    """Objects in one bucket of an S3-compatible server, under a prefix. A PUT is atomic on
    the server (an object is there whole or not at all)."""

    kind = "s3"

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        # What a failed call raises: the server's answer, or none (refused, timed out).
        self.errors: tuple[type[Exception], ...] = (BotoCoreError, ClientError)
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def _name(self, key: str) -> str:
        return self.prefix + checked_key(key)

    def _failed(self, exc: Exception, doing: str) -> DomainError:
        code = _s3_code(exc)
        if doing == "written" and code in S3_FULL_CODES:
            return StorageFull("the photo store is full; the report itself is kept")
        kept = "; the report itself is kept" if doing == "written" else ""
        return StorageUnavailable(
            f"the photo store (bucket {self.bucket}) cannot be {doing} "
            f"({code or type(exc).__name__}){kept}"
        )

    def put(self, key: str, data: bytes) -> None:
        name = self._name(key)
        try:
            self.client.put_object(Bucket=self.bucket, Key=name, Body=data)
        except self.errors as exc:
            raise self._failed(exc, "written") from None

    def _get_object(self, key: str) -> dict[str, Any]:
        name = self._name(key)
        try:
            answer: dict[str, Any] = self.client.get_object(Bucket=self.bucket, Key=name)
            return answer
        except self.errors as exc:
            if _s3_code(exc) in S3_MISSING_CODES:
                raise PhotoMissing(key) from None
            raise self._failed(exc, "read") from None

    def get(self, key: str) -> bytes:
        body = self._get_object(key)["Body"]
        try:
            data: bytes = body.read()
            return data
        except self.errors as exc:
            raise self._failed(exc, "read") from None
        finally:
            body.close()

    def open(self, key: str) -> Opened:
        answer = self._get_object(key)
        body = answer["Body"]

        def chunks() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(CHUNK_BYTES)
            finally:
                body.close()

        return Opened(int(answer["ContentLength"]), chunks())

    def exists(self, key: str) -> bool:
        name = self._name(key)
        try:
            self.client.head_object(Bucket=self.bucket, Key=name)
            return True
        except self.errors as exc:
            if _s3_code(exc) in S3_MISSING_CODES:
                return False
            raise self._failed(exc, "read") from None

    def delete(self, key: str) -> None:
        name = self._name(key)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=name)
        except self.errors as exc:
            raise self._failed(exc, "written") from None

    def keys(self) -> Iterator[str]:
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    yield item["Key"][len(self.prefix) :]
        except self.errors as exc:
            raise self._failed(exc, "listed") from None

    def local_path(self, key: str) -> Path | None:
        return None


def _s3_code(exc: Exception) -> str | None:
    """The S3 error code of a botocore ClientError ("NoSuchKey", "XMinioStorageFull"), or
    None for a failure that never got an answer (a refused connection, a timeout)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


@lru_cache(maxsize=4)
def s3_client(endpoint: str, region: str, access_key: str, secret_key: str) -> Any:
    """One client per server and credentials (boto3 clients are thread-safe). Path-style
    addressing, as MinIO and Ceph RGW serve buckets without wildcard DNS."""
    import boto3  # only when the S3 store is configured: the import takes a while
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint or None,
        region_name=region or None,
        aws_access_key_id=access_key or None,
        aws_secret_access_key=secret_key or None,
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
        ),
    )


def photo_store(settings: Settings | None = None) -> PhotoStore:
    """The store the settings name (GRIDWATCH_PHOTO_STORE): the directory by default."""
    s = settings or get_settings()
    if s.photo_backend == "s3":
        client = s3_client(
            s.s3_endpoint,
            s.s3_region,
            s.s3_access_key.get_secret_value() if s.s3_access_key else "",
            s.s3_secret_key.get_secret_value() if s.s3_secret_key else "",
        )
        return S3Store(client, s.s3_bucket, s.s3_prefix)
    return DirectoryStore(s.photo_store)
