"""Does the photo store hold what the database says it does? Every photo row's original is
looked for in the store (and, asked to, read and hashed); originals without a row — left by an
upload whose transaction failed after its file was written, harmless as the same bytes reuse
them — are counted. For a bucket backed up by its own means, this is the check that it and a
restored database agree."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.reports.photos import FORMATS, photo_key
from app.domain.reports.photostore import PhotoMissing, PhotoStore
from app.models import Photo

EXTENSIONS = {content_type: ext for content_type, ext in FORMATS.values()}


@dataclass
class PhotoCheck:
    photos: int = 0  # distinct originals the database names
    missing: list[str] = field(default_factory=list)  # named, not in the store
    damaged: list[str] = field(default_factory=list)  # in the store, bytes not their hash
    unreferenced: list[str] = field(default_factory=list)  # in the store, named by no row

    @property
    def ok(self) -> bool:
        return not self.missing and not self.damaged


def check_photos(session: Session, store: PhotoStore, *, hashes: bool = False) -> PhotoCheck:
    rows = session.execute(select(Photo.sha256, Photo.content_type).distinct()).all()
    expected = {photo_key(sha, EXTENSIONS[content_type]) for sha, content_type in rows}
    stored = {key for key in store.keys() if not key.endswith(".display.jpg")}
    result = PhotoCheck(photos=len(expected))
    result.missing = sorted(expected - stored)
    result.unreferenced = sorted(stored - expected)
    if hashes:
        for key in sorted(expected & stored):
            try:
                data = store.get(key)
            except PhotoMissing:
                result.missing.append(key)
                continue
            if hashlib.sha256(data).hexdigest() != key.rsplit("/", 1)[1].split(".")[0]:
                result.damaged.append(key)
    return result
