"""How an accountability export was computed, in words and numbers, as configured when it was
made: what counts as a patrol, which flags void a report, the patrol intervals by risk, when a
lapse starts, the tolerance, the time zone — and who made it (name and unit), with which
software. Every number is read from the settings and app/rules.py at export time, never
written here, so the file says what the system did, not what a document once said."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from sqlalchemy.orm import Session

from app import rules
from app.config import get_settings
from app.domain.accountability.dossierpdf import STATUS_LABEL
from app.domain.accountability.tables import DUTY_LABEL
from app.domain.people.scope import Viewer
from app.models import Cell, Person
from app.models.reports import FLAGS

ROLE_LABEL = {
    "inspector": "网格员 inspector",
    "leader": "网格长 grid leader",
    "supervisor": "监督员 supervisor",
    "command": "攻坚办 command office",
    "discipline": "纪委监委 discipline inspection",
    "admin": "系统管理员 administrator",
}
FLAG_WORDS = {
    "outside_cells": "不在任何单元网格内 the point is in no unit cell",
    "not_on_duty": "上报人当时不在该网格岗位上 the reporter held no duty on the cell then",
    "low_accuracy": "定位精度差于 {max_accuracy_m} 米 accuracy worse than {max_accuracy_m} m",
    "future_time": (
        "上报时间晚于接收时间超过 {future_tolerance_minutes} 分钟 "
        "observed more than {future_tolerance_minutes} min after it was received"
    ),
    "late_sync": "观测后超过 {late_sync_days} 天才同步 received over {late_sync_days} days late",
    "impossible_speed": (
        "与本人上一条有效上报相比速度超过 {max_speed_kmh} km/h "
        "faster than {max_speed_kmh} km/h from the reporter's previous counted report"
    ),
    "duplicate_photo": "照片与其他上报的照片完全相同 a photo byte-identical to another report's",
    "exif_mismatch": (
        "照片 EXIF 位置距上报点超过 {exif_max_distance_m} 米 "
        "a photo's EXIF position over {exif_max_distance_m} m from the report"
    ),
}


def software_version() -> str:
    try:
        return f"gridwatch {version('gridwatch')}"
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "gridwatch (version unknown)"


def unit_of(role: str, scope_name: str | None, scope_code: str | None) -> str:
    """A person's unit as a file names it: their role and the territory they answer for."""
    territory = f"{scope_name} ({scope_code})" if scope_code else "全域 whole territory"
    return f"{ROLE_LABEL.get(role, role)} · {territory}"


def author(session: Session, viewer: Viewer) -> tuple[str, str]:
    """The exporting person's name and unit."""
    person = session.get_one(Person, viewer.person_id)
    scope = session.get(Cell, person.scope_cell_id) if person.scope_cell_id else None
    if scope is None:
        return person.name, unit_of(person.role, None, None)
    return person.name, unit_of(person.role, scope.name, scope.code)


def method_lines(min_hours: float) -> list[tuple[str, str]]:
    """(label, text) pairs of the method sheet, bilingual."""
    s = get_settings()
    numbers = s.model_dump()
    flags = "\n".join(f"{flag}: {FLAG_WORDS.get(flag, flag).format(**numbers)}" for flag in FLAGS)
    leaders, members = ", ".join(rules.LEADER_DUTIES), ", ".join(rules.MEMBER_DUTIES)
    duties_zh = (
        "、".join(DUTY_LABEL[d] for d in rules.LEADER_DUTIES),
        "、".join(DUTY_LABEL[d] for d in rules.MEMBER_DUTIES),
    )
    running_zh = "、".join(STATUS_LABEL[s].split(" ")[0] for s in rules.RUNNING_DEADLINE)
    finished_zh = "、".join(STATUS_LABEL[s].split(" ")[0] for s in rules.FINISHED)
    return [
        (
            "有效巡查 A counted patrol",
            "该网格内任一有效上报（巡查或问题）或有效轨迹点；带作废标记的上报不计，除非监督员"
            "审核认可了它当时的全部标记。 Any counted report (patrol or issue) or counted track "
            "point in the cell; a report with a voiding flag does not count unless a supervisor "
            "reviewed it and accepted exactly its flags.",
        ),
        ("作废标记 Voiding flags", flags),
        (
            "巡查间隔（按风险） Patrol interval by risk",
            f"高 high {s.patrol_hours_high} h; 中 medium {s.patrol_hours_medium} h; "
            f"低 low {s.patrol_hours_low} h (默认值；网格自设的间隔优先，见各行的要求 "
            "defaults; a cell's own interval, shown in each row's requirement, applies)",
        ),
        (
            "未按期巡查 Unpatrolled lapse",
            "自最后一次有效巡查起满一个巡查间隔时开始（无宽限期），到下一次有效巡查时结束；"
            "截取到统计期间和网格有效期内。 Starts exactly one patrol interval after the last "
            "counted patrol (no grace period), ends at the next counted patrol; clipped to the "
            "period and the cell's validity.",
        ),
        (
            "问题逾期 Overdue hotspot",
            f"问题处于{running_zh}状态且已过整改期限；{finished_zh}为已办结。 A hotspot is "
            "overdue while its status is "
            f"one of {', '.join(rules.RUNNING_DEADLINE)} and its deadline has passed.",
        ),
        (
            "网格缺员 Unstaffed",
            f"没有{duties_zh[0]}，或没有{duties_zh[1]}在岗。 No {leaders} on duty, or none of "
            f"{members} on duty.",
        ),
        (
            "容差 Tolerance (min_hours)",
            f"{min_hours:g} 小时：短于此时长的失职不列入本文件 lapses shorter than "
            f"{min_hours:g} h are left out of this file",
        ),
        ("时区 Time zone", f"{s.timezone}（表中时间均为当地时间 times are local）"),
        (
            "责任人 Responsible",
            "失职期间在该网格任职的每个人（一长三员），及逾期问题的承办人；重叠时长为其任职或"
            "承办时段与失职时段的交集。 Everyone whose duty on the cell overlapped the lapse, "
            "and the assignees of its overdue cases; overlap hours are where their duty or case "
            "and the lapse meet.",
        ),
    ]
