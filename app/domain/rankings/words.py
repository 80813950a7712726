"""The bulletin's words, Simplified Chinese first, English on request."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .ranking import RATES

WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "title": "网格化监管月度通报",
        "period": "通报期间",
        "partial": "（本月尚未结束，数据截至 {t}）",
        "scope": "范围",
        "generated": "生成",
        "headline": "主要数据",
        "unit_cells": "单元网格数",
        "hotspots_found": "新发现问题",
        "hotspots_closed": "结案（销号）",
        "overdue_hotspots": "逾期问题",
        "missed_hotspots": "漏报问题",
        "previous": "上期",
        "worst": "巡查达标率后十名",
        "rank": "排名",
        "code": "编码",
        "name": "名称",
        "overdue": "本月逾期问题",
        "missed": "漏报问题（非网格上报）",
        "found_at": "发现时间",
        "cell": "网格",
        "category": "类别",
        "description": "问题描述",
        "source": "来源",
        "status": "状态",
        "deadline": "整改时限",
        "assignee": "责任人",
        "overdue_hours": "本月逾期小时",
        "still_overdue": "月末仍逾期",
        "yes": "是",
        "no": "否",
        "none": "无",
        "more": "另有 {n} 件未列出",
        "src_patrol": "巡查",
        "src_complaint": "群众举报",
        "src_inspection": "督察",
        "src_fire_point": "火点",
        "src_monitoring": "在线监测",
    },
    "en": {
        "title": "Grid supervision: monthly bulletin",
        "period": "Period",
        "partial": "(the month is not over; figures as of {t})",
        "scope": "Scope",
        "generated": "Generated",
        "headline": "Headline numbers",
        "unit_cells": "unit cells",
        "hotspots_found": "hotspots found",
        "hotspots_closed": "hotspots closed",
        "overdue_hotspots": "overdue hotspots",
        "missed_hotspots": "missed by the grid",
        "previous": "previous",
        "worst": "Ten worst by patrol requirement met",
        "rank": "rank",
        "code": "code",
        "name": "name",
        "overdue": "Hotspots overdue in the month",
        "missed": "Hotspots missed by the grid",
        "found_at": "found",
        "cell": "cell",
        "category": "category",
        "description": "description",
        "source": "source",
        "status": "status",
        "deadline": "deadline",
        "assignee": "assignee",
        "overdue_hours": "hours overdue in the month",
        "still_overdue": "still overdue at month end",
        "yes": "yes",
        "no": "no",
        "none": "none",
        "more": "{n} more not listed",
        "src_patrol": "patrol",
        "src_complaint": "complaint",
        "src_inspection": "inspection",
        "src_fire_point": "fire point",
        "src_monitoring": "monitoring",
    },
}
RATE_WORDS = {"zh": {k: zh for k, zh, _ in RATES}, "en": {k: en for k, _, en in RATES}}


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def local(value: Any, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else ""


def period(
    start: datetime, end: datetime, generated_at: datetime, zone: ZoneInfo, lang: str
) -> str:
    """The days a bulletin covers, both included ([1 October, 1 November) reads 2026-10-01 –
    2026-10-31), and, while the period is still running, when its figures were read."""
    w = WORDS[lang]
    first, last = start.astimezone(zone), end.astimezone(zone) - timedelta(seconds=1)
    text = f"{w['period']}: {first:%Y-%m-%d} – {last:%Y-%m-%d}"
    if end > generated_at:
        text += " " + w["partial"].format(t=local(generated_at, zone))
    return text


# The rates the bulletin's headline shows.
HEADLINE_RATES = (
    "patrol_met_rate",
    "valid_report_rate",
    "rectified_on_time_rate",
    "closed_on_time_rate",
    "missed_rate",
)
