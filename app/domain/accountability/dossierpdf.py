"""The readable part of a case dossier (案卷): one PDF with the summary, the timeline in local
time, the photos (display copies) with their EXIF time and position and the distance to the
spot, the cell's sketch map, the people on duty and the assignee, and a signature block —
for a reader who opens no JSON. Rendered by app/domain/pdf.py (CJK fonts, page numbers).

Everything shown comes from what the dossier's JSON files hold; user text is escaped."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Any

from pyproj import Geod

from app.domain.accountability.tables import DUTY_LABEL
from app.domain.pdf import render_pdf
from app.domain.reports.photos import PhotoTooLarge, UnsupportedPhoto, display_copy
from app.domain.reports.photostore import PhotoMissing, photo_store
from app.domain.timeparse import local_zone
from app.models import Photo

GEOD = Geod(ellps="WGS84")
MAX_PHOTOS = 60  # in the PDF (display copies); the ZIP holds every original
STATUS_LABEL = {
    "reported": "上报 reported",
    "accepted": "立案 accepted",
    "rejected": "不予立案 rejected",
    "dispatched": "派遣 dispatched",
    "rectifying": "整改中 rectifying",
    "rectified": "处置反馈 rectified",
    "closed": "核查结案 closed",
    "reopened": "回头看重开 reopened",
}
ACTION_LABEL = {"create": "创建 created", "transition": "流转 step", "extend": "延期 extended"}
LAPSE_LABEL = {
    "unpatrolled": "未按期巡查 unpatrolled",
    "overdue_hotspot": "问题逾期 overdue",
    "unstaffed": "网格缺员 unstaffed",
}
CSS = """
.lead { color: #444; }
table.facts td:first-child { width: 28%; }
td.time, table.timeline td:first-child { white-space: nowrap; }
table.facts th { width: 26%; }
.photo { display: inline-block; width: 48%; margin: 0 1% 8pt 0; vertical-align: top; }
.photo img { width: 100%; border: 0.5pt solid #999; }
.photo p { margin: 2pt 0; font-size: 8.5pt; }
.map img { width: 100%; }
table.sign td { height: 28pt; }
.small { font-size: 8.5pt; color: #444; }
"""


@dataclass
class Authorship:
    """Who generated the dossier, when, and the audit chain's head before it."""

    name: str
    unit: str
    username: str
    at: datetime
    audit_seq: int
    audit_head: str


@dataclass
class PhotoShown:
    report_label: str  # the report's number on the map and in the list
    photo: Photo
    spot: tuple[float, float]  # lon, lat the distance is measured to


@dataclass
class Contents:
    title: str
    summary: list[tuple[str, str]]
    timeline: list[dict[str, Any]] = field(default_factory=list)  # EventOut as JSON
    lapses: list[dict[str, Any]] = field(default_factory=list)  # accountability rows (JSON)
    reports: list[dict[str, Any]] = field(default_factory=list)  # ReportOut as JSON
    photos: list[PhotoShown] = field(default_factory=list)
    people: list[dict[str, Any]] = field(default_factory=list)  # responsible.json
    names: dict[str, str] = field(default_factory=dict)  # username → name
    svg: bytes | None = None


def local(value: Any, seconds: bool = False) -> str:
    """An instant (datetime or ISO text) as local wall-clock time (GRIDWATCH_TIMEZONE)."""
    if value in (None, ""):
        return ""
    t = datetime.fromisoformat(value) if isinstance(value, str) else value
    return t.astimezone(local_zone()).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Geodesic distance on WGS-84 between two lon/lat points, in metres."""
    return float(GEOD.inv(a[0], a[1], b[0], b[1])[2])


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _table(header: Iterable[str], rows: Iterable[Iterable[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _who(username: str | None, names: dict[str, str]) -> str:
    if not username:
        return ""
    name = names.get(username)
    return f"{name} ({username})" if name else username


def render(contents: Contents, by: Authorship) -> bytes:
    zone = local_zone()
    parts = [
        f"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><style>{CSS}</style>"
        f"<title>{_e(contents.title)}</title></head><body>",
        f"<h1>{_e(contents.title)}</h1>",
        f"<p class='lead'>时间均为当地时间（{_e(zone)}）。All times are local ({_e(zone)}).</p>",
        "<h2>概要 Summary</h2>",
        _table(("项目 Item", "内容 Value"), contents.summary, "facts"),
    ]
    if contents.timeline:
        parts += ["<h2>办理经过 Timeline</h2>", _timeline(contents.timeline, contents.names)]
    if contents.lapses:
        parts += ["<h2>失职记录 Lapses</h2>", _lapses(contents.lapses)]
    if contents.svg:
        data = base64.b64encode(contents.svg).decode()
        parts += [
            "<h2>位置示意图 Map</h2>",
            f"<div class='map'><img src='data:image/svg+xml;base64,{data}' alt='map'></div>",
            "<p class='small'>红圈：问题位置；蓝点：上报（编号同下表）。Red ring: the spot; "
            "blue dots: reports, numbered as below.</p>",
        ]
    if contents.reports:
        parts += ["<h2>相关上报 Reports</h2>", _reports(contents.reports, contents.names)]
    if contents.photos:
        shown = contents.photos[:MAX_PHOTOS]
        parts += ["<h2>现场照片 Photos</h2>", _photos(shown)]
        if len(contents.photos) > len(shown):
            rest = len(contents.photos) - len(shown)
            parts.append(
                f"<p class='small'>另有 {rest} 张照片见 ZIP 的 photos/ 目录。{rest} more photos "
                "are in the ZIP's photos/ folder.</p>"
            )
    parts += ["<h2>责任人 People on duty and the assignee</h2>", _people(contents.people)]
    parts += [_signature(by), "</body></html>"]
    return render_pdf("".join(parts))


def _timeline(events: list[dict[str, Any]], names: dict[str, str]) -> str:
    rows = []
    for e in events:
        step = STATUS_LABEL.get(e["to_status"], e["to_status"])
        if e["action"] == "extend":
            step = ACTION_LABEL["extend"]
        extra = []
        if e.get("assignee"):
            extra.append(f"承办人 assignee: {_who(e['assignee'], names)}")
        if e.get("deadline"):
            extra.append(f"整改期限 deadline: {local(e['deadline'])}")
        if e.get("reason"):
            extra.append(f"原因 reason: {e['reason']}")
        note = "；".join([*extra, *([e["note"]] if e.get("note") else [])])
        rows.append((local(e["at"], seconds=True), step, _who(e["actor"], names), note))
    return _table(("时间 Time", "环节 Step", "办理人 By", "说明 Note"), rows, "timeline")


def _lapses(lapses: list[dict[str, Any]]) -> str:
    rows = [
        (
            LAPSE_LABEL.get(x["lapse"], x["lapse"]),
            local(x["start"]),
            local(x["end"]),
            x["hours"],
            "、".join(
                f"{p['name']}({DUTY_LABEL.get(p['duty'], p['duty'])})" for p in x["responsible"]
            )
            or "无人在岗 nobody",
        )
        for x in lapses
    ]
    return _table(
        ("类型 Lapse", "开始 Start", "结束 End", "小时 Hours", "责任人 Responsible"), rows
    )


def _reports(reports: list[dict[str, Any]], names: dict[str, str]) -> str:
    rows = [
        (
            n,
            local(r["observed_at"], seconds=True),
            _who(r["reporter"], names),
            "巡查 patrol" if r["kind"] == "patrol" else "问题 issue",
            "有效 counted" if r["counted"] else "不计 void: " + ", ".join(r["flags"]),
            r.get("description") or "",
        )
        for n, r in enumerate(reports, start=1)
    ]
    header = (
        "编号 No.",
        "时间 Time",
        "上报人 Reporter",
        "类型 Kind",
        "有效性 Counted",
        "内容 Text",
    )
    return _table(header, rows)


def _photos(photos: list[PhotoShown]) -> str:
    out = []
    for shown in photos:
        p = shown.photo
        try:
            key = display_copy(p)
        except (PhotoTooLarge, UnsupportedPhoto):
            key = None
        image = "<p>（照片文件缺失 photo file missing）</p>"
        if key is not None:
            try:
                data = base64.b64encode(photo_store().get(key)).decode()
                image = f"<img src='data:image/jpeg;base64,{data}' alt='photo'>"
            except PhotoMissing:
                pass
        if p.exif_lat is not None and p.exif_lon is not None:
            far = distance_m((p.exif_lon, p.exif_lat), shown.spot)
            where = f"{p.exif_lat:.6f}, {p.exif_lon:.6f}；距问题位置 {far:.0f} 米 ({far:.0f} m)"
        else:
            where = "无 EXIF 位置 no EXIF position"
        out.append(
            f"<div class='photo'>{image}<p>上报 {_e(shown.report_label)} · EXIF 拍摄时间 taken: "
            f"{_e(p.exif_taken_at or '无 none')}</p><p>EXIF 位置 position: {_e(where)}</p>"
            f"<p class='small'>SHA-256 {_e(p.sha256[:16])}…</p></div>"
        )
    return "".join(out)


def _people(people: list[dict[str, Any]]) -> str:
    rows = [
        (
            DUTY_LABEL.get(p["duty"], p["duty"]) + f" {p['duty']}",
            p["name"],
            p.get("phone") or "",
            p["username"],
            local(p.get("start")),
            local(p.get("end")),
        )
        for p in people
    ]
    header = ("岗位 Post", "姓名 Name", "电话 Phone", "账号 Username", "起 From", "止 To")
    return _table(header, rows) if rows else "<p>无 none</p>"


def _signature(by: Authorship) -> str:
    return (
        "<div class='signature'><h2>生成与签署 Issued and signed</h2>"
        + _table(
            ("项目 Item", "内容 Value"),
            (
                ("生成人 Generated by", f"{by.name} ({by.username})，{by.unit}"),
                ("生成时间 Generated at", local(by.at, seconds=True)),
                ("审计链序号 Audit chain seq", by.audit_seq),
                ("审计链头 Audit chain head", by.audit_head),
            ),
            "facts",
        )
        + "<p class='small'>本案卷（ZIP 或 PDF）的 SHA-256 记入审计日志；用 gridwatch "
        "verify-export 文件 或 POST /api/v1/exports/verify 核验。"
        "The dossier's SHA-256 is in the audit log: check it with "
        "gridwatch verify-export FILE or POST /api/v1/exports/verify.</p>"
        + _table(
            ("", "签字 Signature", "日期 Date"),
            (
                ("经办人 Prepared by", "", ""),
                ("审核人 Reviewed by", "", ""),
                ("单位（盖章）Unit (seal)", "", ""),
            ),
            "sign",
        )
        + "</div>"
    )
