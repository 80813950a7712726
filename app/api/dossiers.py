"""Case dossiers (案卷) as ZIP files: one hotspot's whole record, or one unit cell's over a
period (built in app/domain/accountability/dossiers.py). Each file is audited with its
SHA-256 before it is sent (see exports.deliver)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from app.api.deps import Exporter
from app.api.exports import deliver
from app.api.hotspots import hotspot_detail
from app.api.params import Instant
from app.api.reports import reports_out
from app.db import ReadSessionDep, SessionDep
from app.domain.accountability import dossiers
from app.models import Hotspot, Report

router = APIRouter(prefix="/api/v1/exports", tags=["exports"])
ZIP: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/zip": {}, "application/pdf": {}}}
}
Format = Annotated[
    Literal["zip", "pdf"],
    Query(description="zip: the whole dossier (with dossier.pdf); pdf: the readable PDF alone"),
]


def _hotspot(session: Session, hotspot: Hotspot) -> dict[str, Any]:
    return hotspot_detail(session, hotspot).model_dump(mode="json")


def _reports(session: Session, reports: Sequence[Report]) -> list[dict[str, Any]]:
    return [r.model_dump(mode="json") for r in reports_out(session, reports)]


# A dossier shows hotspots and reports exactly as this API answers for them.
VIEWS = dossiers.Views(hotspot=_hotspot, reports=_reports)


def _send(session: Session, issued: dossiers.Issued) -> StreamingResponse:
    pdf = issued.filename.endswith(".pdf")
    return deliver(
        session,
        issued.file,
        issued.sha256,
        issued.size,
        filename=issued.filename,
        media_type="application/pdf" if pdf else "application/zip",
        action="export.dossier",
        target=issued.target,
        cell_id=issued.cell_id,
        facts=issued.facts,
    )


@router.get("/hotspots/{hotspot_id}.zip", response_class=StreamingResponse, responses=ZIP)
def hotspot_dossier(
    hotspot_id: uuid.UUID, session: SessionDep, viewer: Exporter, format: Format = "zip"
) -> StreamingResponse:
    """The hotspot's whole history, its reports (the one it came from, rectification
    evidence, and grid reports within `missed_radius_m` from `missed_days` before it was
    found until it was closed) with photos, its position, the people on duty and its audit
    entries, and dossier.pdf — summary, timeline in local time, map, photos with their EXIF
    time and position, people on duty and the assignee, signature block (`format=pdf`: the
    PDF alone). By scope only: a case's assignee or creator may open it, not take its
    dossier."""
    return _send(session, dossiers.hotspot_dossier(session, viewer, hotspot_id, VIEWS, format))


@router.get("/cells/{code}.zip", response_class=StreamingResponse, responses=ZIP)
def cell_dossier(
    code: Annotated[str, Path(max_length=64)],
    session: SessionDep,
    read: ReadSessionDep,
    viewer: Exporter,
    from_: Annotated[Instant, Query(alias="from")],
    to: Instant,
    format: Format = "zip",
) -> StreamingResponse:
    """One unit cell over [from, to): its lapses with the people responsible, every report
    filed in it with photos, its hotspots with their histories, the duty roster of the
    period and the hotspots' assignees, a map, the audit entries about the cell, and
    dossier.pdf (`format=pdf`: the PDF alone). Read on a replica when one is configured,
    like the exports (a hotspot's dossier, the case someone may just have moved, is read on
    the primary)."""
    issued = dossiers.cell_dossier(session, read, viewer, code, from_, to, VIEWS, format)
    read.close()  # done reading; the audit entry goes to the primary
    return _send(session, issued)
