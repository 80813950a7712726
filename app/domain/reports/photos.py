"""Report photos: checked by content (JPEG/PNG/WebP, ≤ 20 MB, a megapixel cap, fully decoded
once), kept byte-for-byte as the original by SHA-256 outside the database (in the photo store,
app/domain/reports/photostore.py), with a display-size JPEG derived beside it for pages; EXIF
time/position read with Pillow; `duplicate_photo` and `exif_mismatch` flags are added to the
report on upload (SPEC §4, §6)."""

from __future__ import annotations

import hashlib
import io
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from PIL.ExifTags import GPS, IFD, Base
from pyproj import Geod
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.config import get_settings
from app.domain import audit
from app.domain.errors import DomainError
from app.domain.reports.photostore import (
    DirectoryStore,
    PhotoMissing,
    PhotoStore,
    StorageUnavailable,
    photo_store,
)
from app.domain.reports.review import add_flags, lock_report
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
# The display copy is shrunk from the decoded photo this many rows of the result at a time.
SHRINK_STRIP_ROWS = 64
# EXIF orientation -> the turn that shows the photo upright (as ImageOps.exif_transpose).
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# A Huffman-coded JPEG spends at least one bit on every 8 x 8 block's DC value, so it cannot
# hold a megapixel in fewer than ~2,000 bytes (grayscale; more in colour). A JPEG with fewer
# bytes than this per megapixel claims pixels it does not carry: libjpeg would pad the missing
# rows with grey and the full decode would "succeed" on a forged header.
MIN_JPEG_BYTES_PER_MEGAPIXEL = 1000


class PhotoTooLarge(DomainError):
    status_code = 413


class UnsupportedPhoto(DomainError):
    status_code = 415


_slots_lock = threading.Lock()
_slots: tuple[int, threading.BoundedSemaphore] | None = None


def decode_slots() -> threading.BoundedSemaphore:
    """The process-wide limit on photos decoded at once (photo_decode_concurrency): a decoded
    64 MP photo takes ~260 MB, so parallel uploads wait for a slot rather than add up."""
    global _slots
    wanted = get_settings().photo_decode_concurrency
    with _slots_lock:
        if _slots is None or _slots[0] != wanted:
            _slots = (wanted, threading.BoundedSemaphore(wanted))
        return _slots[1]


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
    file fails here, not on a page later); PhotoTooLarge or UnsupportedPhoto otherwise. At
    most photo_decode_concurrency photos are decoded at once in this process; more wait."""
    try:
        with decode_slots():
            return _inspect(data, max_megapixels)
    except Image.DecompressionBombError:
        raise PhotoTooLarge("the photo has too many pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UnsupportedPhoto(f"not a readable JPEG, PNG or WebP image ({_reason(exc)})") from None


def _inspect(data: bytes, max_megapixels: float) -> Inspected:
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
        width, height = image.size
        exif = read_exif(image)
        target = _display_size(width, height)
        if image.format == "JPEG":
            # libjpeg still decodes every block of the file, only at 1/2, 1/4 or 1/8 scale:
            # the check holds, and a full-size JPEG is never held in memory.
            image.draft(None, target)
        image.load()  # the full decode: a truncated or corrupt file fails here
        orientation = image.getexif().get(Base.Orientation)
        shown = _shrunk(image, target)
    # Closing the file above freed the decoded photo: only the shrunk copy is left.
    upright = orientation if isinstance(orientation, int) else 1
    return Inspected(kind[0], kind[1], width, height, exif, _display_copy(shown, upright))


def _reason(exc: BaseException) -> str:
    """The decoder's words ("image file is truncated"), without the Python objects and memory
    addresses some of its messages name."""
    words = re.sub(r"<[^>]*>", "", str(exc)).strip(" :;,")
    return words[:200] or type(exc).__name__


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


def _display_size(width: int, height: int) -> tuple[int, int]:
    """About the display copy's size: the long side at most DISPLAY_LONG_SIDE pixels."""
    scale = min(1.0, DISPLAY_LONG_SIDE / max(width, height))
    return max(1, int(width * scale)), max(1, int(height * scale))


def _shrunk(image: Image.Image, target: tuple[int, int]) -> Image.Image:
    """The decoded `image` reduced by a whole factor to no less than `target` (an average of
    each factor x factor block), as RGB with transparency on white, or as L. Made a strip of
    rows at a time, so that no second full-size image exists beside the decoded one."""
    width, height = image.size
    factor = max(1, min(width // target[0], height // target[1]))
    transparent = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
    mode = "L" if image.mode == "L" else "RGB"
    shrunk = Image.new(mode, (-(-width // factor), -(-height // factor)), "white")
    rows = factor * SHRINK_STRIP_ROWS
    for top in range(0, height, rows):
        strip = image.crop((0, top, width, min(height, top + rows)))
        strip = strip.convert("RGBA" if transparent else mode)  # a copy of a strip only
        small = strip.reduce(factor)  # RGBA is averaged premultiplied: no dark fringes
        shrunk.paste(small, (0, top // factor), small.getchannel("A") if transparent else None)
    return shrunk


def _display_copy(shown: Image.Image, orientation: int) -> bytes:
    """A JPEG of at most DISPLAY_LONG_SIDE pixels from the shrunk photo, turned upright as the
    camera held it; it carries no EXIF (the original keeps it)."""
    method = UPRIGHT.get(orientation)
    if method is not None:
        shown = shown.transpose(method)
    shown.thumbnail((DISPLAY_LONG_SIDE, DISPLAY_LONG_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    shown.save(buf, "JPEG", quality=DISPLAY_QUALITY, optimize=True, progressive=True)
    return buf.getvalue()


def photo_key(sha256: str, ext: str) -> str:
    """The original's key in the photo store, byte-for-byte as uploaded."""
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}.{ext}"


def display_key(sha256: str) -> str:
    """The derived display copy's key, beside its original. Backups leave it out (it is
    derived): `display_copy` makes it again when it is missing."""
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}.display.jpg"


def photo_path(sha256: str, ext: str) -> Path:
    """The original's file when the photo store is the directory (GRIDWATCH_PHOTO_DIR)."""
    return DirectoryStore(get_settings().photo_store).path(photo_key(sha256, ext))


def display_path(sha256: str) -> Path:
    """The display copy's file when the photo store is the directory."""
    return DirectoryStore(get_settings().photo_store).path(display_key(sha256))


def _store(store: PhotoStore, key: str, data: bytes) -> None:
    try:
        if store.exists(key):
            return  # content-addressed: the same bytes are already there
    except StorageUnavailable as exc:
        raise StorageUnavailable(f"{exc.message}; the report itself is kept") from None
    store.put(key, data)


# One 64-bit advisory lock per photo content (the cell summaries' locks use two 32-bit keys,
# which PostgreSQL keeps apart), held to the end of the transaction.
_SAME_BYTES_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:sha256, 0))")


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
    # Uploads of the same bytes take turns until their transactions end, so that the later one
    # sees the earlier one's photo: on another report (duplicate_photo) or on this one (the
    # answer), instead of both missing each other's uncommitted row.
    session.execute(_SAME_BYTES_LOCK, {"sha256": sha})
    same = session.scalar(select(Photo).where(Photo.report_id == report.id, Photo.sha256 == sha))
    if same is not None:
        session.refresh(report)  # its flags as the upload that stored the photo left them
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
    store = photo_store()
    _store(store, photo_key(sha, checked.ext), data)
    _store(store, display_key(sha), checked.display)
    lock_report(session, report)  # another photo's flags or a review may have landed
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


def display_copy(photo: Photo) -> str | None:
    """The key of `photo`'s display copy in the photo store, derived again from the original
    if it is missing (a photo stored before display copies existed, or a restored backup:
    backups hold the originals only); None without the original. An original that no longer
    passes the checks (stored before they existed) raises PhotoTooLarge or UnsupportedPhoto."""
    store = photo_store()
    key = display_key(photo.sha256)
    if store.exists(key):
        return key
    try:
        data = store.get(photo_key(photo.sha256, extension_of(photo)))
    except PhotoMissing:
        return None
    _store(store, key, inspect(data, get_settings().photo_max_megapixels).display)
    return key
