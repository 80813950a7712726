"""Exports for the discipline-inspection office (SPEC §6–7): accountability (lapses with the
people on duty), missed problems (漏报) and false reports, as JSON, CSV, XLSX or GeoJSON.

Every export is built into a temporary file (memory stays flat), hashed, recorded in the
audit log with its SHA-256 and row count, and only then sent: the log can prove that a file
someone hands in later is exactly what gridwatch produced."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Annotated, Any, Generic, Literal, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from app import clock
from app.api.deps import Accountable, Exporter
from app.api.params import Instant, Within
from app.config import get_settings
from app.db import ReadSessionDep, SessionDep
from app.domain import audit
from app.domain.accountability.exportfile import FORMATS, SPOOL_BYTES, HashingWriter, Meta, write
from app.domain.accountability.exports import KINDS, Table, accountability
from app.domain.accountability.issued import check_file
from app.domain.accountability.method import author, method_lines, software_version
from app.domain.errors import DomainError
from app.domain.people.scope import Viewer
from app.domain.supervision.gaps import Selection, selection_for
from app.domain.supervision.lapses import MAX_SPAN
from app.models import Cell

T = TypeVar("T")

router = APIRouter(prefix="/api/v1/exports", tags=["exports"])


def scope_of(session: Session, selection: Selection, viewer: Viewer) -> tuple[str, int | None]:
    """A readable name of what an export covers, and its root cell (for audit scoping)."""
    if selection.root_path is not None:
        root_id = int(selection.root_path.split(".")[-1])
        cell = session.get_one(Cell, root_id)
        return f"{cell.code} {cell.name}", root_id
    if selection.cell_ids is not None:
        return f"cells on duty of {viewer.username}", None
    return "全域 everything", None


@dataclass
class Written(Generic[T]):
    """A file written to a spool (memory, then disk), with its SHA-256, size and what the
    writer returned (rows)."""

    spool: IO[bytes]
    sha256: str
    size: int
    result: T


def write_hashed(writer: Callable[[HashingWriter], T]) -> Written[T]:
    """Write a file through `writer` into a spool, hashing it on the way; nothing is left
    open if the writer fails."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    sink = HashingWriter(spool)
    try:
        result = writer(sink)
    except BaseException:
        spool.close()
        raise
    return Written(spool, sink.sha256.hexdigest(), sink.size, result)


def spooled(spool: IO[bytes]) -> Iterator[bytes]:
    """A finished spooled file, from its start, in blocks; closed at the end."""
    spool.seek(0)
    try:
        while block := spool.read(256 * 1024):
            yield block
    finally:
        spool.close()


def deliver(
    session: Session,
    spool: IO[bytes],
    digest: str,
    size: int,
    *,
    filename: str,
    media_type: str,
    action: str,
    target: str,
    cell_id: int | None,
    facts: dict[str, Any],
) -> StreamingResponse:
    """Audit the finished file (with its hash), commit, then stream it."""
    audit.record(
        session,
        action,
        "export",
        target,
        cell_id=cell_id,
        after=facts | {"sha256": digest, "size_bytes": size, "filename": filename},
    )
    session.commit()
    (seq,) = audit.last_assigned(session)
    session.close()  # nothing more to read: no transaction stays open while the file streams
    return StreamingResponse(
        spooled(spool),
        media_type=media_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
            "X-Content-SHA256": digest,
            "X-Audit-Seq": str(seq),
            "Cache-Control": "no-store",
        },
    )


@router.post("/verify", response_model=dict[str, Any])
def verify_export(
    session: SessionDep,
    viewer: Accountable,
    file: Annotated[UploadFile, File(description="a file gridwatch exported, as received")],
) -> dict[str, Any]:
    """Was this exact file exported by gridwatch? Recomputes its SHA-256 and answers from the
    audit log: `issued`, and for each export entry with that hash (among those the caller may
    see) when, by whom (name and unit), what and the entry's number. A file changed in any
    way — one cell of a spreadsheet — is not issued. Same as `gridwatch verify-export FILE`."""
    return check_file(session, file.file, viewer).as_dict()


@router.get(
    "/{kind}",
    responses={200: {"content": {m: {} for m, _ in FORMATS.values()}}},
    response_class=StreamingResponse,
)
def export_table(
    kind: Literal["accountability", "missed-problems", "false-reports"],
    session: SessionDep,
    read: ReadSessionDep,
    viewer: Exporter,
    from_: Annotated[Instant, Query(alias="from")],
    to: Instant,
    within: Within = None,
    format: Literal["json", "csv", "xlsx", "geojson"] = "json",
    lang: Annotated[Literal["zh", "en"], Query(description="language of text cells")] = "zh",
    min_hours: Annotated[
        float | None,
        Query(
            ge=0,
            le=24 * 400,
            description="accountability: leave out lapses shorter than this many hours "
            "(default: the setting GRIDWATCH_EXPORT_MIN_HOURS)",
        ),
    ] = None,
    by: Annotated[
        Literal["lapse", "person"],
        Query(description="CSV of accountability: one row per lapse, or per person × lapse"),
    ] = "lapse",
) -> StreamingResponse:
    """`accountability`: one row per lapse (SPEC §5) with every person on duty during it.
    `missed-problems`: hotspots the grid did not report first, with who was on duty then.
    `false-reports`: reports voided as fraud (duplicate photo, EXIF mismatch, impossible
    speed). The XLSX has a bilingual header and, for accountability, a sheet per person ×
    lapse and a summary per person, and a method sheet (the rules as configured now); the
    About sheet holds the period, scope, author (name and unit), tolerance and the audit
    chain's head; dates are local time (GRIDWATCH_TIMEZONE). `format=csv&by=person`: the
    per-person rows as CSV. The file's SHA-256 is in its audit entry: check a file with
    POST /api/v1/exports/verify or `gridwatch verify-export FILE`."""
    if to <= from_:
        raise DomainError("to must be after from")
    if to - from_ > MAX_SPAN:
        raise DomainError(f"an export spans at most {MAX_SPAN.days} days")
    selection = selection_for(read, viewer, within)
    if by == "person" and (kind != "accountability" or format != "csv"):
        raise DomainError("by=person is for the accountability export as CSV (format=csv)")
    if kind == "accountability":
        given = get_settings().export_min_hours if min_hours is None else min_hours
        table = accountability(read, selection, from_, to, lang, min_hours=given)
        tolerance: float | None = given
    else:
        tolerance = None
        table = KINDS[kind](read, selection, from_, to, lang)
    name = f"gridwatch-{kind}{'-by-person' if by == 'person' else ''}-{from_:%Y%m%d}-{to:%Y%m%d}"
    if tolerance is not None:
        name += f"-min{tolerance:g}h"  # the tolerance in the name too (and in the file)
    return send_table(
        session,
        read,
        viewer,
        selection,
        table,
        format,
        from_,
        to,
        within,
        name,
        kind=kind,
        tolerance=tolerance,
        by_person=by == "person",
        facts={"lang": lang, "by": by, "min_hours": tolerance},
    )


def send_table(
    session: Session,
    read: Session,
    viewer: Viewer,
    selection: Selection,
    table: Table,
    fmt: str,
    from_: Any,
    to: Any,
    within: str | None,
    name: str,
    *,
    kind: str | None = None,
    tolerance: float | None = None,
    by_person: bool = False,
    facts: dict[str, Any] | None = None,
) -> StreamingResponse:
    """Every exported table (accountability, rankings, the gap list, …) as a file: written
    with what it says about itself (period, scope, author by name and unit, the tolerance and
    method where lapses are counted), its hash audited as `export.<kind>`, then streamed.
    Everything is read through `read` (a replica when one is configured); the audit head and
    the file's audit entry are the primary's (`session`)."""
    kind = kind or table.kind
    scope, scope_cell = scope_of(read, selection, viewer)
    head_seq, head_hash = audit.head(session)
    author_name, unit = author(read, viewer)
    meta = Meta(
        from_,
        to,
        scope,
        clock.now(),
        viewer.username,
        head_hash,
        head_seq,
        author_name=author_name,
        author_unit=unit,
        min_hours=tolerance,
        software=software_version(),
        method=method_lines(tolerance) if tolerance is not None else [],
    )
    written = write_hashed(lambda sink: write(read, table, fmt, meta, sink, by_person=by_person))
    media_type, ext = FORMATS[fmt]
    read.close()  # done reading; the audit entry goes to the primary
    return deliver(
        session,
        written.spool,
        written.sha256,
        written.size,
        filename=f"{name}.{ext}",
        media_type=media_type,
        action=f"export.{kind}",
        target=f"{kind}.{fmt}",
        cell_id=scope_cell,
        facts={
            "from": from_,
            "to": to,
            "within": within,
            "scope": scope,
            "format": fmt,
            "rows": written.result,
            "audit_head": head_hash,
            "audit_seq": head_seq,
        }
        | (facts or {}),
    )
