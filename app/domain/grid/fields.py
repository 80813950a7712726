"""Which attribute of a grid file is the code, name, parent, risk and level (SPEC §2), and
what its risk words mean.

A field named on the command line must exist. Otherwise the usual names are looked for — the
English ones, the Chinese ones a bureau's GIS uses (网格编码, 网格名称, 上级编码, 风险等级, 层级)
and their pinyin initials (WGBM, WGMC, SJBM, FXDJ) — so a bureau's file imports without flags.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.errors import InputRejected
from app.domain.sheets import header_key

# Accepted names, first the one the option defaults to.
FIELD_NAMES: dict[str, tuple[str, ...]] = {
    "code": (
        "code",
        "网格编码",
        "网格代码",
        "网格编号",
        "单元网格编码",
        "编码",
        "wgbm",
        "gridcode",
    ),
    "name": ("name", "网格名称", "网格名", "名称", "wgmc", "gridname"),
    "parent": (
        "parent",
        "parent_code",
        "上级编码",
        "上级网格编码",
        "上级网格",
        "父级编码",
        "sjbm",
        "sjwgbm",
    ),
    "risk": ("risk", "风险等级", "风险级别", "风险", "fxdj"),
    "level": ("level", "层级", "网格层级", "网格级别", "cj"),
}
REQUIRED = ("code", "name")

RISK_WORDS = {
    "high": "high",
    "medium": "medium",
    "low": "low",
    "h": "high",
    "m": "medium",
    "l": "low",
    "高": "high",
    "中": "medium",
    "低": "low",
    "高风险": "high",
    "中风险": "medium",
    "低风险": "low",
    "较高风险": "high",
    "一般风险": "medium",
    "较低风险": "low",
    # Graded 一级 … 三级, the first the most severe (as in 一级响应).
    "一级": "high",
    "二级": "medium",
    "三级": "low",
    "一级风险": "high",
    "二级风险": "medium",
    "三级风险": "low",
    "i级": "high",
    "ii级": "medium",
    "iii级": "low",
}
ACCEPTED_RISKS = (
    "high/medium/low (or 高/中/低, 高风险/中风险/低风险, 一级/二级/三级 with 一级 the highest)"
)


def risk_of(word: str) -> str | None:
    """high, medium or low for a risk word (case and blanks ignored); None if it is none."""
    return RISK_WORDS.get(header_key(word))


@dataclass(frozen=True)
class Fields:
    code: str
    name: str
    parent: str | None
    risk: str | None
    level: str | None

    def found(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v is not None}


def resolve_fields(
    source: str, fields: list[str], given: dict[str, str | None], parent_given: bool = False
) -> Fields:
    """The layer's field for each role: the one `given` (by option), else one of the usual
    names. InputRejected when a given field is missing or no code/name field is found."""
    by_key = {header_key(f): f for f in fields}
    listing = ", ".join(sorted(fields)) or "(none)"
    problems: list[str] = []
    chosen: dict[str, str | None] = {}
    for role, names in FIELD_NAMES.items():
        wanted = given.get(role)
        if wanted is not None:
            if wanted not in fields:
                problems.append(f"field {wanted!r} not in the layer; fields are: {listing}")
            chosen[role] = wanted
            continue
        chosen[role] = next((by_key[k] for n in names if (k := header_key(n)) in by_key), None)
        if chosen[role] is None and role in REQUIRED:
            problems.append(
                f"field {role!r} not in the layer; fields are: {listing}; name the {role} field "
                f"with --{role}-field (looked for {', '.join(names[:6])} …)"
            )
    if problems:
        raise InputRejected(source, problems)
    return Fields(
        code=str(chosen["code"]),
        name=str(chosen["name"]),
        parent=chosen["parent"],
        risk=chosen["risk"],
        level=chosen["level"],
    )
