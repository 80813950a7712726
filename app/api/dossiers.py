"""Case dossiers (案卷) as ZIP files: everything about one hotspot, or one cell over a period —
history, related reports with their photos, the map position, the people on duty and the
audit entries — with `manifest.json` listing every file's SHA-256.

Built into a temporary file, hashed and audited before it is sent (see exports.deliver)."""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse
from shapely import wkb
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app import clock
from app.api.audit import entry_out
from app.api.deps import Exporter
from app.api.exports import SPOOL_BYTES, deliver
from app.api.hotspots import hotspot_detail
from app.api.params import Instant
from app.api.reports import report_out
from app.db import SessionDep
from app.domain import audit
from app.domain.accountability.exportfile import Meta, write
from app.domain.accountability.exports import Places, accountability
from app.domain.errors import DomainError
from app.domain.people.scope import Viewer, get_visible, visible, visible_cell
from app.domain.reports.photos import extension_of, photo_path
from app.domain.supervision.gaps import Selection
from app.domain.supervision.lapses import MAX_SPAN, duties_in_window, responsible_during
from app.models import AuditEntry, Cell, Hotspot, HotspotEvent, Patrol, Photo, Report

router = APIRouter(prefix="/api/v1/exports", tags=["exports"])
NEARBY_M = 200  # reports this close to a hotspot belong in its dossier (SPEC §4's radius)
README = """gridwatch 案卷 case dossier

manifest.json   每个文件的 SHA-256 / every file's SHA-256, who generated it, the audit chain head
*.json          数据 / data (times in UTC, ISO-8601)
photos/         现场照片原件 / the original photos, named by their SHA-256
map.geojson     位置（WGS-84）/ positions (WGS-84); map.svg: a sketch of the same

核验 To verify: sha256sum each file and compare with manifest.json; the dossier's own hash is
in gridwatch's audit log (GET /api/v1/audit?action=export.dossier).
"""


@dataclass
class Dossier:
    """A ZIP being written, with the manifest of what went in."""

    out: zipfile.ZipFile
    files: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def add(self, name: str, data: bytes, compress: bool = True) -> None:
        method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        self.out.writestr(name, data, compress_type=method)
        self.files.append(
            {"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        )

    def add_json(self, name: str, value: Any) -> None:
        self.add(name, json.dumps(value, ensure_ascii=False, indent=2, default=str).encode())

    def add_photos(self, session: Session, report_ids: list[uuid.UUID]) -> None:
        for p in session.scalars(
            select(Photo).where(Photo.report_id.in_(report_ids)).order_by(Photo.uploaded_at)
        ):
            name = f"photos/{p.report_id}/{p.sha256}.{extension_of(p)}"
            path = photo_path(p.sha256, extension_of(p))
            try:
                data = path.read_bytes()
            except OSError:
                self.missing.append(name)  # said in the manifest, never silently dropped
                continue
            self.add(name, data, compress=False)


def _reports(session: Session, ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    rows = session.scalars(select(Report).where(Report.id.in_(ids)).order_by(Report.observed_at))
    return [report_out(session, r).model_dump(mode="json") for r in rows]


def _people(session: Session, cell_id: int, start: datetime, end: datetime) -> list[Any]:
    duties = duties_in_window(session, [cell_id], start, end).get(cell_id, [])
    return [vars(r) for r in responsible_during(duties, (start, end))]


def _audit(session: Session, viewer: Viewer, *conditions: Any) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(AuditEntry)
        .where(or_(*conditions), visible(viewer, AuditEntry))
        .order_by(AuditEntry.seq)
    )
    return [entry_out(e) for e in rows]


def _svg(cell: BaseGeometry, points: list[tuple[Point, str]]) -> bytes:
    """A sketch map for readers without GIS: the cell, the hotspot (red), reports (blue)."""
    minx, miny, maxx, maxy = cell.bounds
    pad = max(maxx - minx, maxy - miny) * 0.05 or 0.001
    w, h = maxx - minx + 2 * pad, maxy - miny + 2 * pad
    flip = f"matrix(1 0 0 -1 0 {2 * miny + maxy - miny})"  # north up
    dots = "".join(
        f'<circle cx="{p.x}" cy="{p.y}" r="{w / 80}" fill="{colour}" />' for p, colour in points
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{minx - pad} {miny - pad} {w} {h}" '
        f'width="600" height="{600 * h / w:.0f}"><g transform="{flip}">'
        f'<path d="{_path(cell)}" fill="#dde7f0" stroke="#345" stroke-width="{w / 300}" />'
        f"{dots}</g></svg>"
    ).encode()


def _path(shape: BaseGeometry) -> str:
    parts = []
    for poly in getattr(shape, "geoms", [shape]):
        for ring in (poly.exterior, *poly.interiors):
            xy = " L ".join(f"{x} {y}" for x, y in ring.coords)
            parts.append(f"M {xy} Z")
    return " ".join(parts)


def _map(
    cell: Cell | None, hotspot: Hotspot | None, reports: list[dict[str, Any]]
) -> tuple[dict[str, Any], bytes | None]:
    features: list[dict[str, Any]] = []
    points: list[tuple[Point, str]] = []
    shape = None
    if cell is not None:
        shape = wkb.loads(bytes(cell.geom.data))
        features.append(
            {
                "type": "Feature",
                "geometry": shape.__geo_interface__,
                "properties": {"kind": "cell", "code": cell.code, "name": cell.name},
            }
        )
    for r in reports:
        points.append((Point(r["lon"], r["lat"]), "#2166ac"))
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
                "properties": {"kind": "report", "id": r["id"], "observed_at": r["observed_at"]},
            }
        )
    if hotspot is not None:
        points.append((Point(hotspot.lon, hotspot.lat), "#b2182b"))
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [hotspot.lon, hotspot.lat]},
                "properties": {"kind": "hotspot", "id": str(hotspot.id)},
            }
        )
    geojson = {"type": "FeatureCollection", "features": features}
    return geojson, (_svg(shape, points) if shape is not None else None)


def _finish(
    session: Session,
    dossier: Dossier,
    spool: IO[bytes],
    viewer: Viewer,
    *,
    filename: str,
    target: str,
    cell_id: int | None,
    facts: dict[str, Any],
) -> StreamingResponse:
    seq, head_hash = audit.head(session)
    dossier.add("README.txt", README.encode())
    manifest = {
        "dossier": target,
        "generated_at": clock.now().isoformat(),
        "generated_by": viewer.username,
        "audit_seq": seq,
        "audit_head": head_hash,
        "files": dossier.files,
        "missing_files": dossier.missing,
    }
    dossier.out.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
    dossier.out.close()
    spool.seek(0)
    digest = hashlib.sha256()
    size = 0
    while block := spool.read(1 << 20):
        digest.update(block)
        size += len(block)
    return deliver(
        session,
        spool,
        digest.hexdigest(),
        size,
        filename=filename,
        media_type="application/zip",
        action="export.dossier",
        target=target,
        cell_id=cell_id,
        facts=facts | {"files": len(dossier.files), "missing_files": dossier.missing},
    )


def _open() -> tuple[IO[bytes], Dossier]:
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    return spool, Dossier(zipfile.ZipFile(spool, "w", zipfile.ZIP_DEFLATED))


@router.get(
    "/hotspots/{hotspot_id}.zip",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}},
)
def hotspot_dossier(
    hotspot_id: uuid.UUID, session: SessionDep, viewer: Exporter
) -> StreamingResponse:
    """The hotspot's whole history, its reports (the one it came from, rectification
    evidence, and grid reports within 200 m from a week before it was found until it was
    closed) with photos, its position, the people on duty and its audit entries."""
    # By scope only: being a hotspot's assignee or creator opens the case, not its dossier.
    h = get_visible(session, viewer, Hotspot, hotspot_id, personal=False)
    cell = session.get(Cell, h.cell_id) if h.cell_id else None
    until = h.closed_at or clock.now()
    linked = {h.report_id, h.evidence_report_id} | set(
        session.scalars(
            select(HotspotEvent.evidence_report_id).where(HotspotEvent.hotspot_id == h.id)
        )
    )
    nearby = session.scalars(
        select(Report.id).where(
            Report.cell_id == h.cell_id,
            Report.observed_at >= h.found_at - timedelta(days=7),
            Report.observed_at <= until,
            func.ST_DWithin(
                func.Geography(Report.geom),
                func.Geography(func.ST_SetSRID(func.ST_MakePoint(h.lon, h.lat), 4326)),
                NEARBY_M,
            ),
        )
    ).all()
    visible_linked = set(
        session.scalars(
            select(Report.id).where(Report.id.in_(linked - {None}), visible(viewer, Report))
        )
    )
    report_ids = sorted(visible_linked | set(nearby), key=str)
    reports = _reports(session, report_ids)
    spool, dossier = _open()
    detail = hotspot_detail(session, h).model_dump(mode="json")
    if cell is not None:
        district, street = Places(session, cell.path).of(cell.path)
        detail["cell"] = {
            "code": cell.code,
            "name": cell.name,
            "district": district,
            "street": street,
        }
    dossier.add_json("hotspot.json", detail)
    dossier.add_json("reports.json", reports)
    dossier.add_photos(session, report_ids)
    geojson, svg = _map(cell, h, reports)
    dossier.add_json("map.geojson", geojson)
    if svg:
        dossier.add("map.svg", svg)
    people = _people(session, cell.id, h.found_at, until) if cell else []
    dossier.add_json("responsible.json", people)
    dossier.add_json(
        "audit.json",
        _audit(
            session,
            viewer,
            (AuditEntry.target_type == "hotspot") & (AuditEntry.target_id == str(h.id)),
            (AuditEntry.target_type == "report")
            & AuditEntry.target_id.in_([str(i) for i in report_ids]),
        ),
    )
    return _finish(
        session,
        dossier,
        spool,
        viewer,
        filename=f"gridwatch-hotspot-{h.id}.zip",
        target=f"hotspot:{h.id}",
        cell_id=h.cell_id,
        facts={"hotspot": h.id, "reports": len(report_ids)},
    )


@router.get(
    "/cells/{code}.zip",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}},
)
def cell_dossier(
    code: Annotated[str, Path(max_length=64)],
    session: SessionDep,
    viewer: Exporter,
    from_: Annotated[Instant, Query(alias="from")],
    to: Instant,
) -> StreamingResponse:
    """One unit cell over [from, to): its lapses with the people responsible, every report
    filed in it with photos, its hotspots with their histories, the duty roster of the
    period, a map and the audit entries about the cell."""
    if to <= from_:
        raise DomainError("to must be after from")
    if to - from_ > MAX_SPAN:
        raise DomainError(f"a dossier spans at most {MAX_SPAN.days} days")
    cell = visible_cell(session, viewer, code)
    if not cell.is_leaf:
        raise DomainError(f"cell {code} is not a unit cell; a dossier is per unit cell")
    spool, dossier = _open()
    seq, head_hash = audit.head(session)
    district, street = Places(session, cell.path).of(cell.path)
    dossier.add_json(
        "cell.json",
        {
            "code": cell.code,
            "name": cell.name,
            "district": district,
            "street": street,
            "risk": cell.risk,
            "patrol_interval_hours": cell.patrol_interval_hours,
            "from": from_.isoformat(),
            "to": to.isoformat(),
        },
    )
    meta = Meta(from_, to, f"{cell.code} {cell.name}", clock.now(), viewer.username, head_hash, seq)
    lapses = io.BytesIO()  # one cell's lapses: small
    write(
        session,
        accountability(session, Selection(None, [cell.id]), from_, to, "zh"),
        "json",
        meta,
        lapses,
    )
    dossier.add("lapses.json", lapses.getvalue())
    report_ids = list(
        session.scalars(
            select(Report.id)
            .where(Report.cell_id == cell.id, Report.observed_at >= from_, Report.observed_at < to)
            .order_by(Report.observed_at)
        )
    )
    reports = _reports(session, report_ids)
    dossier.add_json("reports.json", reports)
    dossier.add_photos(session, report_ids)
    hotspots = session.scalars(
        select(Hotspot)
        .where(
            Hotspot.cell_id == cell.id,
            Hotspot.created_at < to,
            or_(Hotspot.closed_at.is_(None), Hotspot.closed_at >= from_),
        )
        .order_by(Hotspot.found_at)
    ).all()
    tracks = session.execute(
        select(Patrol, func.ST_AsGeoJSON(Patrol.track, 6))
        .join(Cell, Cell.id == cell.id)
        .where(
            func.ST_Intersects(Patrol.track, Cell.geom),
            Patrol.started_at < to,
            Patrol.ended_at >= from_,
        )
        .order_by(Patrol.started_at)
    ).all()
    dossier.add_json(
        "patrols.json",
        [
            {
                "id": p.id,
                "reporter_id": p.reporter_id,
                "started_at": p.started_at,
                "ended_at": p.ended_at,
                "counted": p.counted,
                "flags": p.flags,
                "track": json.loads(shape),
            }
            for p, shape in tracks
        ],
    )
    dossier.add_json(
        "hotspots.json", [hotspot_detail(session, h).model_dump(mode="json") for h in hotspots]
    )
    dossier.add_json("responsible.json", _people(session, cell.id, from_, to))
    geojson, svg = _map(cell, None, reports)
    dossier.add_json("map.geojson", geojson)
    if svg:
        dossier.add("map.svg", svg)
    dossier.add_json(
        "audit.json",
        _audit(
            session,
            viewer,
            (AuditEntry.cell_id == cell.id) & (AuditEntry.at >= from_) & (AuditEntry.at < to),
        ),
    )
    return _finish(
        session,
        dossier,
        spool,
        viewer,
        filename=f"gridwatch-cell-{cell.code}-{from_:%Y%m%d}-{to:%Y%m%d}.zip",
        target=f"cell:{cell.code}",
        cell_id=cell.id,
        facts={"cell": cell.code, "from": from_, "to": to, "reports": len(report_ids)},
    )
