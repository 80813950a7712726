"""Case dossiers (案卷) as ZIP files: everything about one hotspot, or one unit cell over a
period — history, related reports with their photos, the map position (sketch.py), the people
on duty and the audit entries — with `manifest.json` listing every file's SHA-256.

Built into a spooled temporary file and hashed here; the API audits the finished file with
its hash and only then sends it (app/api/exports.py `deliver`)."""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from app import clock
from app.config import get_settings
from app.domain import audit
from app.domain.accountability import dossierparts as parts
from app.domain.accountability import dossierpdf
from app.domain.accountability.dossierpdf import Authorship, Contents, PhotoShown
from app.domain.accountability.exportfile import SPOOL_BYTES, Meta, write
from app.domain.accountability.exports import Places, accountability
from app.domain.accountability.method import author
from app.domain.accountability.sketch import dossier_map
from app.domain.categories import CATEGORIES
from app.domain.errors import DomainError
from app.domain.people.scope import Viewer, get_visible, visible, visible_cell
from app.domain.reports.photos import extension_of, photo_key
from app.domain.reports.photostore import PhotoMissing, photo_store
from app.domain.supervision.gaps import Selection
from app.domain.supervision.lapses import MAX_SPAN, duties_in_window, responsible_during
from app.models import AuditEntry, Cell, Hotspot, HotspotEvent, Photo, Report

FORMATS = ("zip", "pdf")  # the dossier as a ZIP (with dossier.pdf inside), or the PDF alone

README = """gridwatch 案卷 case dossier

dossier.pdf     可读案卷 / the readable dossier: summary, timeline (local time), map, photos,
                people on duty and the assignee, signature block
manifest.json   每个文件的 SHA-256 / every file's SHA-256, who generated it, the audit chain head
*.json          数据 / data (times in UTC, ISO-8601)
photos/         现场照片原件 / the original photos, named by their SHA-256
map.geojson     位置（WGS-84）/ positions (WGS-84); map.svg: a sketch of the same

核验 To verify: sha256sum each file and compare with manifest.json; the dossier's own hash is
in gridwatch's audit log (GET /api/v1/audit?action=export.dossier).
"""


@dataclass(frozen=True)
class Views:
    """How the API shows a hotspot (with its history) and reports: a dossier holds exactly
    what the API answers for them, and their schemas live above the domain."""

    hotspot: Callable[[Session, Hotspot], dict[str, Any]]
    reports: Callable[[Session, Sequence[Report]], list[dict[str, Any]]]


@dataclass
class Issued:
    """A finished dossier, from its first byte, and what its audit entry says of it."""

    file: IO[bytes]
    sha256: str
    size: int
    filename: str
    target: str
    cell_id: int | None
    facts: dict[str, Any]


@dataclass
class _Dossier:
    """A ZIP being written, with the manifest of what went in."""

    spool: IO[bytes]
    out: zipfile.ZipFile
    files: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    pdf_only: bool = False  # hand out dossier.pdf alone instead of the ZIP

    def add(self, name: str, data: bytes, compress: bool = True) -> None:
        method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        self.out.writestr(name, data, compress_type=method)
        self.files.append(
            {"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        )

    def add_json(self, name: str, value: Any) -> None:
        self.add(name, json.dumps(value, ensure_ascii=False, indent=2, default=str).encode())

    def add_photos(self, photos: list[Photo]) -> None:
        store = photo_store()
        for p in photos:
            name = f"photos/{p.report_id}/{p.sha256}.{extension_of(p)}"
            try:
                data = store.get(photo_key(p.sha256, extension_of(p)))
            except PhotoMissing:
                self.missing.append(name)  # said in the manifest, never silently dropped
                continue
            self.add(name, data, compress=False)

    def add_map(
        self, cell: Cell | None, hotspot: Hotspot | None, reports: list[Any]
    ) -> bytes | None:
        geojson, svg = dossier_map(cell, hotspot, reports)
        self.add_json("map.geojson", geojson)
        if svg:
            self.add("map.svg", svg)
        return svg

    def add_pdf(self, session: Session, viewer: Viewer, contents: Contents, fmt: str) -> bytes:
        """dossier.pdf: the readable dossier (in the ZIP; alone when `fmt` is pdf)."""
        seq, head_hash = audit.head(session)
        name, unit = author(session, viewer)
        by = Authorship(name, unit, viewer.username, clock.now(), seq, head_hash)
        pdf = dossierpdf.render(contents, by)
        self.add("dossier.pdf", pdf)
        self.pdf_only = fmt == "pdf"
        return pdf

    def finish(
        self,
        session: Session,
        viewer: Viewer,
        *,
        filename: str,
        target: str,
        cell_id: int | None,
        facts: dict[str, Any],
    ) -> Issued:
        """README and manifest in, the ZIP closed and hashed."""
        seq, head_hash = audit.head(session)
        self.add("README.txt", README.encode())
        manifest = {
            "dossier": target,
            "generated_at": clock.now().isoformat(),
            "generated_by": viewer.username,
            "audit_seq": seq,
            "audit_head": head_hash,
            "files": self.files,
            "missing_files": self.missing,
        }
        self.out.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
        self.out.close()
        if self.pdf_only:
            with zipfile.ZipFile(self.spool) as done:
                pdf = done.read("dossier.pdf")
            self.spool.close()
            self.spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
            self.spool.write(pdf)
            filename = filename.removesuffix(".zip") + ".pdf"
            facts = facts | {"format": "pdf"}
        self.spool.seek(0)
        digest = hashlib.sha256()
        size = 0
        while block := self.spool.read(1 << 20):
            digest.update(block)
            size += len(block)
        self.spool.seek(0)
        facts = facts | {"files": len(self.files), "missing_files": self.missing}
        return Issued(self.spool, digest.hexdigest(), size, filename, target, cell_id, facts)


@contextmanager
def _writing() -> Iterator[_Dossier]:
    """A dossier in a spooled file, closed again if building it fails."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    try:
        yield _Dossier(spool, zipfile.ZipFile(spool, "w", zipfile.ZIP_DEFLATED))
    except BaseException:
        spool.close()
        raise


def near_hotspot(hotspot: Hotspot, until: datetime) -> ColumnElement[bool]:
    """Grid reports that belong with a hotspot: of its cell, within `missed_radius_m` of it,
    from `missed_days` before it was found until `until` (the radius and window of the
    missed-by-the-grid check, SPEC §4)."""
    settings = get_settings()
    at = func.Geography(func.ST_SetSRID(func.ST_MakePoint(hotspot.lon, hotspot.lat), 4326))
    return (
        (Report.cell_id == hotspot.cell_id)
        & (Report.observed_at >= hotspot.found_at - timedelta(days=settings.missed_days))
        & (Report.observed_at <= until)
        & func.ST_DWithin(func.Geography(Report.geom), at, settings.missed_radius_m)
    )


def hotspot_dossier(
    session: Session, viewer: Viewer, hotspot_id: uuid.UUID, views: Views, fmt: str = "zip"
) -> Issued:
    """The hotspot's whole history, its reports (the one it came from, rectification
    evidence, and grid reports near it until it was closed) with photos, its position, the
    people on duty and the assignee, its audit entries, and dossier.pdf that shows it all
    (`fmt` pdf: that PDF alone). By scope only: being a hotspot's assignee or creator opens
    the case, not its dossier."""
    h = get_visible(session, viewer, Hotspot, hotspot_id, personal=False)
    cell = session.get(Cell, h.cell_id) if h.cell_id else None
    until = h.closed_at or clock.now()
    linked = {h.report_id, h.evidence_report_id} | set(
        session.scalars(
            select(HotspotEvent.evidence_report_id).where(HotspotEvent.hotspot_id == h.id)
        )
    )
    rows = session.scalars(
        select(Report)
        .where(or_(Report.id.in_(linked - {None}), near_hotspot(h, until)), visible(viewer, Report))
        .order_by(Report.observed_at)
    ).all()
    report_ids = [r.id for r in rows]
    reports = views.reports(session, rows)
    detail = views.hotspot(session, h)
    if cell is not None:
        detail["cell"] = {"code": cell.code, "name": cell.name, **_place(session, cell)}
    photos = _photos(session, report_ids)
    with _writing() as dossier:
        dossier.add_json("hotspot.json", detail)
        dossier.add_json("reports.json", reports)
        dossier.add_photos(photos)
        svg = dossier.add_map(cell, h, reports)
        people = _people(session, cell.id, h.found_at, until) if cell else []
        people += parts.assignees(session, [h.id], until)
        dossier.add_json("responsible.json", people)
        label = {r["id"]: str(n) for n, r in enumerate(reports, start=1)}
        contents = Contents(
            f"问题案卷 Case dossier · {CATEGORIES.get(h.category, h.category)} · "
            f"{cell.name if cell else ''}",
            parts.hotspot_summary(detail, people),
            timeline=detail["history"],
            reports=reports,
            photos=[PhotoShown(label[str(p.report_id)], p, (h.lon, h.lat)) for p in photos],
            people=people,
            names=parts.names(session, detail, reports, people),
            svg=svg,
        )
        dossier.add_pdf(session, viewer, contents, fmt)
        about = (AuditEntry.target_type == "hotspot") & (AuditEntry.target_id == str(h.id))
        of_reports = (AuditEntry.target_type == "report") & AuditEntry.target_id.in_(
            [str(i) for i in report_ids]
        )
        dossier.add_json("audit.json", _audit(session, viewer, or_(about, of_reports)))
        return dossier.finish(
            session,
            viewer,
            filename=f"gridwatch-hotspot-{h.id}.zip",
            target=f"hotspot:{h.id}",
            cell_id=h.cell_id,
            facts={"hotspot": h.id, "reports": len(report_ids), "format": fmt},
        )


def cell_dossier(
    session: Session,
    read: Session,
    viewer: Viewer,
    code: str,
    start: datetime,
    end: datetime,
    views: Views,
    fmt: str = "zip",
) -> Issued:
    """One unit cell over [start, end): its lapses with the people responsible, every report
    filed in it with photos, its hotspots with their histories, the patrol tracks that crossed
    it, the duty roster of the period and the hotspots' assignees, a map, the audit entries
    about the cell, and dossier.pdf that shows it (`fmt` pdf: that PDF alone). Read through
    `read` (a replica when one is configured), like the exports; the audit head it states is
    the primary's (`session`), where its own entry is appended."""
    if end <= start:
        raise DomainError("to must be after from")
    if end - start > MAX_SPAN:
        raise DomainError(f"a dossier spans at most {MAX_SPAN.days} days")
    cell = visible_cell(read, viewer, code)
    if not cell.is_leaf:
        raise DomainError(f"cell {code} is not a unit cell; a dossier is per unit cell")
    with _writing() as dossier:
        seq, head_hash = audit.head(session)
        about_cell = {
            "code": cell.code,
            "name": cell.name,
            **_place(read, cell),
            "risk": cell.risk,
            "patrol_interval_hours": cell.patrol_interval_hours,
            "from": start.isoformat(),
            "to": end.isoformat(),
        }
        dossier.add_json("cell.json", about_cell)
        meta = Meta(
            start, end, f"{cell.code} {cell.name}", clock.now(), viewer.username, head_hash, seq
        )
        lapses = io.BytesIO()  # one cell's lapses: small
        table = accountability(read, Selection(None, [cell.id]), start, end, "zh")
        write(read, table, "json", meta, lapses)
        dossier.add("lapses.json", lapses.getvalue())
        rows = read.scalars(
            select(Report)
            .where(Report.cell_id == cell.id, Report.observed_at >= start, Report.observed_at < end)
            .order_by(Report.observed_at)
        ).all()
        report_ids = [r.id for r in rows]
        reports = views.reports(read, rows)
        dossier.add_json("reports.json", reports)
        photos = _photos(read, report_ids)
        dossier.add_photos(photos)
        dossier.add_json("patrols.json", parts.patrols(read, cell, start, end))
        hotspots = read.scalars(
            select(Hotspot)
            .where(
                Hotspot.cell_id == cell.id,
                Hotspot.created_at < end,
                or_(Hotspot.closed_at.is_(None), Hotspot.closed_at >= start),
            )
            .order_by(Hotspot.found_at)
        ).all()
        dossier.add_json("hotspots.json", [views.hotspot(read, h) for h in hotspots])
        people = _people(read, cell.id, start, end)
        people += parts.assignees(read, [h.id for h in hotspots], min(end, clock.now()))
        dossier.add_json("responsible.json", people)
        svg = dossier.add_map(cell, None, reports)
        label = {r["id"]: str(n) for n, r in enumerate(reports, start=1)}
        point = {str(r.id): (r.lon, r.lat) for r in rows}
        contents = Contents(
            f"网格案卷 Cell dossier · {cell.name} {cell.code}",
            parts.cell_summary(about_cell, hotspots),
            lapses=json.loads(lapses.getvalue())["lapses"],
            reports=reports,
            photos=[
                PhotoShown(label[str(p.report_id)], p, point[str(p.report_id)]) for p in photos
            ],
            people=people,
            names=parts.names(read, {"history": []}, reports, people),
            svg=svg,
        )
        dossier.add_pdf(session, viewer, contents, fmt)
        during = (AuditEntry.cell_id == cell.id) & (AuditEntry.at >= start) & (AuditEntry.at < end)
        dossier.add_json("audit.json", _audit(read, viewer, during))
        return dossier.finish(
            session,
            viewer,
            filename=f"gridwatch-cell-{cell.code}-{start:%Y%m%d}-{end:%Y%m%d}.zip",
            target=f"cell:{cell.code}",
            cell_id=cell.id,
            facts={
                "cell": cell.code,
                "from": start,
                "to": end,
                "reports": len(report_ids),
                "format": fmt,
            },
        )


def _place(session: Session, cell: Cell) -> dict[str, str]:
    district, street = Places(session, cell.path).of(cell.path)
    return {"district": district, "street": street}


def _photos(session: Session, report_ids: list[uuid.UUID]) -> list[Photo]:
    return list(
        session.scalars(
            select(Photo).where(Photo.report_id.in_(report_ids)).order_by(Photo.uploaded_at)
        )
    )


def _people(session: Session, cell_id: int, start: datetime, end: datetime) -> list[Any]:
    duties = duties_in_window(session, [cell_id], start, end).get(cell_id, [])
    return [vars(r) for r in responsible_during(duties, (start, end))]


def _audit(session: Session, viewer: Viewer, about: ColumnElement[bool]) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(AuditEntry).where(about, visible(viewer, AuditEntry)).order_by(AuditEntry.seq)
    )
    return [audit.entry_json(e) for e in rows]
