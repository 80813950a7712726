"""Report and hotspot categories (SPEC §4): the ledger's source types plus the problems
inspectors meet on patrol. Codes in English, labels in Chinese for the pages."""

from app.models.sources import SOURCE_TYPES

PROBLEMS = {
    "dust": "扬尘",
    "open_burning": "露天焚烧",
    "straw_burning": "秸秆焚烧",
    "black_smoke": "冒黑烟",
    "sewage": "污水直排",
    "river_litter": "河道垃圾",
    "odor": "异味扰民",
    "illegal_dumping": "违规倾倒",
    "noise": "噪声",
    "other": "其他",
}
CATEGORIES: dict[str, str] = {**SOURCE_TYPES, **PROBLEMS}


def check_category(value: str | None) -> str | None:
    if value is not None and value not in CATEGORIES:
        raise ValueError(f"unknown category {value!r}; one of: {', '.join(CATEGORIES)}")
    return value
