"""The two photo stores keep one contract (app/domain/reports/photostore.py): the directory and
an S3 bucket (moto's server in its own process, spoken to over HTTP) answer put, get, open,
exists, delete and keys alike."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import Settings
from app.domain.reports.photostore import (
    CHUNK_BYTES,
    DirectoryStore,
    PhotoMissing,
    PhotoStore,
    S3Store,
    photo_store,
)
from tests.s3_server import S3Server


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    server = S3Server()
    yield server
    server.stop()


@pytest.fixture(params=["dir", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> PhotoStore:
    if request.param == "dir":
        return DirectoryStore(tmp_path / "photos")
    server: S3Server = request.getfixturevalue("s3_server")
    return S3Store(server.client(), server.new_bucket(), "city/photos")


def key(data: bytes, ext: str = "jpg") -> str:
    sha = hashlib.sha256(data).hexdigest()
    return f"{sha[:2]}/{sha[2:4]}/{sha}.{ext}"


def test_a_stored_photo_comes_back_whole_and_streamed(store: PhotoStore) -> None:
    data = os.urandom(CHUNK_BYTES * 2 + 123)  # three chunks, the last one short
    k = key(data)
    assert not store.exists(k)
    store.put(k, data)
    assert store.exists(k) and store.get(k) == data
    opened = store.open(k)
    chunks = list(opened.chunks)
    assert opened.size == len(data) and b"".join(chunks) == data
    assert [len(c) for c in chunks] == [CHUNK_BYTES, CHUNK_BYTES, 123]


def test_keys_lists_what_is_stored_and_delete_removes_it(store: PhotoStore) -> None:
    photos = [os.urandom(100) for _ in range(3)]
    for data in photos:
        store.put(key(data), data)
    display = key(photos[0]).replace(".jpg", ".display.jpg")
    store.put(display, b"shrunk")
    assert sorted(store.keys()) == sorted([*(key(d) for d in photos), display])

    store.delete(key(photos[1]))
    store.delete(key(photos[1]))  # gone already: nothing happens
    assert not store.exists(key(photos[1]))
    with pytest.raises(PhotoMissing):
        store.get(key(photos[1]))
    with pytest.raises(PhotoMissing):
        store.open(key(photos[1]))
    assert len(list(store.keys())) == 3


def test_writing_a_key_again_keeps_one_copy(store: PhotoStore) -> None:
    data = os.urandom(500)
    store.put(key(data, "png"), data)
    store.put(key(data, "png"), data)
    assert list(store.keys()) == [key(data, "png")] and store.get(key(data, "png")) == data


def test_a_name_that_is_not_a_photo_key_is_refused(store: PhotoStore) -> None:
    for bad in ("../../etc/passwd", "ab/cd/not-a-hash.jpg", "/abs/" + "0" * 64 + ".jpg"):
        with pytest.raises(ValueError, match="not a photo store key"):
            store.put(bad, b"x")


def test_the_s3_store_needs_a_bucket_and_no_other_kind_is_taken() -> None:
    with pytest.raises(ValidationError, match="GRIDWATCH_S3_BUCKET"):
        Settings(_env_file=None, photo_backend="s3")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="'dir' or 's3'"):
        Settings(_env_file=None, photo_backend="ftp")  # type: ignore[call-arg]
    chosen = Settings(_env_file=None, photo_backend="s3", s3_bucket="photos")  # type: ignore[call-arg]
    assert isinstance(photo_store(chosen), S3Store)
    assert isinstance(photo_store(Settings(_env_file=None)), DirectoryStore)  # type: ignore[call-arg]


def test_the_store_is_chosen_by_gridwatch_photo_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOTO_BACKEND", "s3")  # a stranger's variable is not read
    assert Settings(_env_file=None).photo_backend == "dir"  # type: ignore[call-arg]
    monkeypatch.setenv("GRIDWATCH_PHOTO_STORE", "s3")
    monkeypatch.setenv("GRIDWATCH_S3_BUCKET", "city-photos")
    monkeypatch.setenv("GRIDWATCH_S3_PREFIX", "gridwatch")
    chosen = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (chosen.photo_backend, chosen.s3_bucket, chosen.s3_prefix) == (
        "s3",
        "city-photos",
        "gridwatch",
    )
