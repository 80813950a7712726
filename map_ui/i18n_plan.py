"""Strings of the phone's plan of the day (今日待巡) and the desk's cells-at-risk panel,
Simplified Chinese first."""

from __future__ import annotations

from app.models.sources import SOURCE_TYPES
from map_ui.i18n import category_labels

PLAN_STRINGS: dict[str, dict[str, str]] = {
    "zh": {
        "plan_title": "今日待巡",
        "plan_empty": "今天没有到期的网格或污染源",
        "plan_never": "从未巡查，已超期",
        "plan_due_in": "{h} 小时 {m} 分后到期",
        "plan_overdue_by": "已超期 {h} 小时 {m} 分",
        "plan_age_fresh": "刚刚更新",
        "plan_age": "{n} 分钟前的数据",
        "plan_age_hours": "{n} 小时前的数据",
        "plan_offline": "（离线）",
        "plan_walk": "步行 {m} 米",
        "plan_route": "共 {n} 处，步行约 {km} 公里",
        "plan_truncated": "（到期的还有更多，只列出最急的 {n} 处）",
        "plan_source": "污染源",
        "plan_here": "当前位置",
        "plan_unavailable": "暂无今日待巡数据（需联网一次）",
        "plan_report_for": "上报：{name}",
        "plan_report_elsewhere": "当前位置不在该网格内，将按所在位置计入",
        "risk_title": "即将失守的网格（{h} 小时内到期）",
        "risk_empty": "没有即将到期的网格",
        "risk_cells": "{n} 格",
        "risk_no_leader": "（无网格长）",
        "risk_due_in": "{h} 小时 {m} 分后到期",
        "risk_layer": "即将到期网格",
        "duty_leader": "网格长",
        "duty_member": "网格员",
        "duty_patroller": "巡查员",
        "duty_supervisor": "监督员",
    },
    "en": {
        "plan_title": "Today's rounds",
        "plan_empty": "Nothing falls due today",
        "plan_never": "never patrolled, overdue",
        "plan_due_in": "due in {h} h {m} min",
        "plan_overdue_by": "overdue by {h} h {m} min",
        "plan_age_fresh": "just updated",
        "plan_age": "data from {n} min ago",
        "plan_age_hours": "data from {n} h ago",
        "plan_offline": " (offline)",
        "plan_walk": "walk {m} m",
        "plan_route": "{n} stops, about {km} km on foot",
        "plan_truncated": "(more are due; only the {n} most urgent are listed)",
        "plan_source": "source",
        "plan_here": "you are here",
        "plan_unavailable": "No plan yet (needs the network once)",
        "plan_report_for": "Report for: {name}",
        "plan_report_elsewhere": "you are not in this cell; the report counts where you stand",
        "risk_title": "Cells about to lapse (due within {h} h)",
        "risk_empty": "No cell falls due soon",
        "risk_cells": "{n} cell(s)",
        "risk_no_leader": "(no grid leader)",
        "risk_due_in": "due in {h} h {m} min",
        "risk_layer": "Cells falling due",
        "duty_leader": "grid leader",
        "duty_member": "grid member",
        "duty_patroller": "patroller",
        "duty_supervisor": "supervisor",
    },
}


def source_type_labels(lang: str) -> dict[str, str]:
    labels = category_labels(lang)
    return {code: labels[code] for code in SOURCE_TYPES}
