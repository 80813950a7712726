"""Report photos: checked by content (JPEG/PNG/WebP, ≤ 10 MB), stored by SHA-256 outside the
database, EXIF time/position read with Pillow; `duplicate_photo` and `exif_mismatch` flags are
added to the report on upload (SPEC §4)."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from PIL.ExifTags import GPS, IFD, Base
from pyproj import Geod
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import get_settings
from app.domain import audit
from app.domain.errors import DomainError
from app.domain.intake import add_flags
from app.models import Photo, Report

FORMATS = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "WEBP": ("image/webp", "webp"),
}
GEOD = Geod(ellps="WGS84")


class PhotoTooLarge(DomainError):
    status_code = 413


class UnsupportedPhoto(DomainError):
    status_code = 415


class StorageFull(DomainError):
    status_code = 507


class StorageUnavailable(DomainError):
    status_code = 503


@dataclass
class Exif:
    lat: float | None = None
    lon: float | None = None
    taken_at: str | None = None


def _degrees(dms: object, ref: object) -> float | None:
    try:
        d, m, s = (float(x) for x in dms)  # type: ignore[attr-defined]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    value = d + m / 60 + s / 3600
    return -value if str(ref).upper() in ("S", "W") else value


def read_exif(image: Image.Image) -> Exif:
    exif = image.getexif()
    out = Exif()
    taken = exif.get_ifd(IFD.Exif).get(Base.DateTimeOriginal) or exif.get(Base.DateTime)
    if taken:
        out.taken_at = str(taken).replace("\x00", "").strip()[:32] or None
    gps = exif.get_ifd(IFD.GPSInfo)
    if GPS.GPSLatitude in gps and GPS.GPSLongitude in gps:
        lat = _degrees(gps[GPS.GPSLatitude], gps.get(GPS.GPSLatitudeRef, "N"))
        lon = _degrees(gps[GPS.GPSLongitude], gps.get(GPS.GPSLongitudeRef, "E"))
        if lat is not None and lon is not None and abs(lat) <= 90 and abs(lon) <= 180:
            out.lat, out.lon = lat, lon
    return out


def inspect(data: bytes) -> tuple[str, str, int, int, Exif]:
    """(content type, extension, width, height, EXIF) or UnsupportedPhoto."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = FORMATS.get(image.format or "")
            if kind is None:
                raise UnsupportedPhoto(
                    f"photos must be JPEG, PNG or WebP; this is {image.format or 'unknown'}"
                )
            image.verify()
        with Image.open(io.BytesIO(data)) as image:
            return kind[0], kind[1], image.width, image.height, read_exif(image)
    except Image.DecompressionBombError:
        raise UnsupportedPhoto("the image has too many pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        # Not the decoder's message: it may name Python objects and their addresses.
        raise UnsupportedPhoto("not a readable JPEG, PNG or WebP image") from None


def photo_path(sha256: str, ext: str) -> Path:
    return get_settings().photo_store / sha256[:2] / sha256[2:4] / f"{sha256}.{ext}"


def _store(data: bytes, path: Path) -> None:
    if path.exists():
        return  # content-addressed: the same bytes are already there
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
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageFull("the photo store is full; the report itself is kept") from None
        raise StorageUnavailable(
            f"the photo store cannot be written ({exc.strerror}); the report itself is kept"
        ) from None


def add_photo(
    session: Session, report: Report, data: bytes, uploader_id: int
) -> tuple[Photo, bool]:
    """Store a photo for `report` (idempotent on its bytes). Returns (photo, created)."""
    settings = get_settings()
    if len(data) > settings.photo_max_bytes:
        raise PhotoTooLarge(
            f"the photo has {len(data):,} bytes; at most {settings.photo_max_bytes:,} are allowed"
        )
    if not data:
        raise UnsupportedPhoto("the photo is empty")
    sha = hashlib.sha256(data).hexdigest()
    same = session.scalar(select(Photo).where(Photo.report_id == report.id, Photo.sha256 == sha))
    if same is not None:
        return same, False
    content_type, ext, width, height, exif = inspect(data)
    photo = Photo(
        report_id=report.id,
        sha256=sha,
        content_type=content_type,
        size_bytes=len(data),
        width=width,
        height=height,
        exif_lat=exif.lat,
        exif_lon=exif.lon,
        exif_taken_at=exif.taken_at,
        uploaded_by_id=uploader_id,
    )
    session.add(photo)
    session.flush()  # the row is acceptable: only now write the file (no orphans)
    _store(data, photo_path(sha, ext))
    flags_before = list(report.flags)
    review_before = report.review_status
    add_flags(session, report, photo_flags(session, report, photo))
    if report.flags != flags_before:
        audit.record(
            session,
            "report.flag",
            "report",
            report.id,
            cell_id=report.cell_id,
            before={"flags": flags_before, "review_status": review_before},
            after={
                "flags": list(report.flags),
                "review_status": report.review_status,
                "counted": report.counted,
                "photo_sha256": sha,
            },
        )
    audit.record(
        session,
        "photo.create",
        "photo",
        photo.id,
        cell_id=report.cell_id,
        before={"report_flags": flags_before},
        after={
            "report_id": report.id,
            "sha256": sha,
            "content_type": content_type,
            "size_bytes": len(data),
            "exif_lat": exif.lat,
            "exif_lon": exif.lon,
            "exif_taken_at": exif.taken_at,
            "report_flags": list(report.flags),
            "report_counted": report.counted,
        },
    )
    return photo, True


def photo_flags(session: Session, report: Report, photo: Photo) -> list[str]:
    flags = []
    elsewhere = session.scalar(
        select(Photo.id).where(Photo.sha256 == photo.sha256, Photo.report_id != report.id).limit(1)
    )
    if elsewhere is not None:
        flags.append("duplicate_photo")
    if photo.exif_lat is not None and photo.exif_lon is not None:
        _, _, metres = GEOD.inv(report.lon, report.lat, photo.exif_lon, photo.exif_lat)
        if metres > get_settings().exif_max_distance_m:
            flags.append("exif_mismatch")
    return flags


def extension_of(photo: Photo) -> str:
    return {v[0]: v[1] for v in FORMATS.values()}[photo.content_type]
