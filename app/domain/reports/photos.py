"""Report photos: checked by content (JPEG/PNG/WebP, ≤ 20 MB, a megapixel cap, fully decoded
once), kept byte-for-byte as the original by SHA-256 outside the database, with a display-size
JPEG derived beside it for pages; EXIF time/position read with Pillow; `duplicate_photo` and
`exif_mismatch` flags are added to the report on upload (SPEC §4, §6)."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError
from PIL.ExifTags import GPS, IFD, Base
from pyproj import Geod
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import get_settings
from app.domain import audit
from app.domain.errors import DomainError
from app.domain.reports.review import add_flags
from app.models import Photo, Report

FORMATS = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "WEBP": ("image/webp", "webp"),
}
PHOTO_TYPES = frozenset(content_type for content_type, _ in FORMATS.values())
GEOD = Geod(ellps="WGS84")
# The derived copy pages show: long side at most this many pixels, JPEG of this quality.
DISPLAY_LONG_SIDE = 1600
DISPLAY_QUALITY = 82
# A Huffman-coded JPEG spends at least one bit on every 8 x 8 block's DC value, so it cannot
# hold a megapixel in fewer than ~2,000 bytes (grayscale; more in colour). A JPEG with fewer
# bytes than this per megapixel claims pixels it does not carry: libjpeg would pad the missing
# rows with grey and the full decode would "succeed" on a forged header.
MIN_JPEG_BYTES_PER_MEGAPIXEL = 1000


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


@dataclass
class Inspected:
    content_type: str
    ext: str
    width: int
    height: int
    exif: Exif
    display: bytes  # the derived display-size JPEG


def inspect(data: bytes, max_megapixels: float) -> Inspected:
    """Check a photo by its content and decode it in full once (a forged header or a truncated
    file fails here, not on a page later); PhotoTooLarge or UnsupportedPhoto otherwise."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = FORMATS.get(image.format or "")
            if kind is None:
                raise UnsupportedPhoto(
                    f"photos must be JPEG, PNG or WebP; this is {image.format or 'unknown'}"
                )
            _check_pixels(image.width, image.height, max_megapixels)  # before any decoding
            if image.format == "JPEG":
                _check_jpeg_density(len(data), image.width, image.height)
            image.verify()
        with Image.open(io.BytesIO(data)) as image:
            exif = read_exif(image)
            image.load()
            return Inspected(
                kind[0], kind[1], image.width, image.height, exif, _display_copy(image)
            )
    except Image.DecompressionBombError:
        raise PhotoTooLarge("the photo has too many pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        # Not the decoder's message: it may name Python objects and their addresses. A file
        # cut off in transfer is said as such, so the phone knows to send it again.
        if isinstance(exc, OSError) and str(exc).startswith("image file is truncated"):
            raise UnsupportedPhoto(
                "the image file is truncated: it ends before its last pixel; send it again"
            ) from None
        raise UnsupportedPhoto("not a readable JPEG, PNG or WebP image") from None


def _check_pixels(width: int, height: int, max_megapixels: float) -> None:
    megapixels = width * height / 1_000_000
    if megapixels > max_megapixels:
        raise PhotoTooLarge(
            f"the photo has {megapixels:,.1f} megapixels ({width} x {height}); "
            f"at most {max_megapixels:g} are allowed"
        )


def _check_jpeg_density(size: int, width: int, height: int) -> None:
    if size * 1_000_000 < width * height * MIN_JPEG_BYTES_PER_MEGAPIXEL:
        raise UnsupportedPhoto(
            f"the JPEG claims {width} x {height} pixels but has only {size:,} bytes, too few "
            "for that many pixels: a forged or cut-off file"
        )


def _display_copy(image: Image.Image) -> bytes:
    """A JPEG of at most DISPLAY_LONG_SIDE pixels, turned upright as the camera held it, with
    transparency on white; it carries no EXIF (the original keeps it)."""
    shown = ImageOps.exif_transpose(image)
    if shown.mode in ("RGBA", "LA", "PA") or (shown.mode == "P" and "transparency" in shown.info):
        rgba = shown.convert("RGBA")
        shown = Image.new("RGB", rgba.size, (255, 255, 255))
        shown.paste(rgba, mask=rgba.getchannel("A"))
    elif shown.mode not in ("RGB", "L"):
        shown = shown.convert("RGB")
    shown.thumbnail((DISPLAY_LONG_SIDE, DISPLAY_LONG_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    shown.save(buf, "JPEG", quality=DISPLAY_QUALITY, optimize=True, progressive=True)
    return buf.getvalue()


def photo_path(sha256: str, ext: str) -> Path:
    """The original, byte-for-byte as uploaded."""
    return get_settings().photo_store / sha256[:2] / sha256[2:4] / f"{sha256}.{ext}"


def display_path(sha256: str) -> Path:
    """The derived display copy, beside its original. Backups leave it out (it is derived):
    `display_copy` makes it again when it is missing."""
    return get_settings().photo_store / sha256[:2] / sha256[2:4] / f"{sha256}.display.jpg"


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
    checked = inspect(data, settings.photo_max_megapixels)
    content_type, exif = checked.content_type, checked.exif
    photo = Photo(
        report_id=report.id,
        sha256=sha,
        content_type=content_type,
        size_bytes=len(data),
        width=checked.width,
        height=checked.height,
        exif_lat=exif.lat,
        exif_lon=exif.lon,
        exif_taken_at=exif.taken_at,
        uploaded_by_id=uploader_id,
    )
    session.add(photo)
    session.flush()  # the row is acceptable: only now write the file (no orphans)
    _store(data, photo_path(sha, checked.ext))
    _store(checked.display, display_path(sha))
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


def display_copy(photo: Photo) -> Path | None:
    """The path of `photo`'s display copy, derived again from the original if it is missing
    (a photo stored before display copies existed, or a restored backup: backups hold the
    originals only); None without the original. An original that no longer passes the checks
    (stored before they existed) raises PhotoTooLarge or UnsupportedPhoto."""
    path = display_path(photo.sha256)
    if path.exists():
        return path
    try:
        data = photo_path(photo.sha256, extension_of(photo)).read_bytes()
    except OSError:
        return None
    _store(inspect(data, get_settings().photo_max_megapixels).display, path)
    return path
