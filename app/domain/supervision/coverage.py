"""Coverage quality of cells (SPEC §5): how much of a cell its recent patrols reached, and how
predictable their timing was."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from app.config import get_settings
from app.sql import load

REACH_M = 150


@dataclass
class Coverage:
    code: str
    spatial_share: float
    patrols_30d: int
    night_patrols_30d: int
    weekend_patrols_30d: int

    @property
    def night_share(self) -> float:
        return round(self.night_patrols_30d / self.patrols_30d, 4) if self.patrols_30d else 0.0

    @property
    def weekend_share(self) -> float:
        return round(self.weekend_patrols_30d / self.patrols_30d, 4) if self.patrols_30d else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "spatial_share": self.spatial_share,
            "patrols_30d": self.patrols_30d,
            "night_share": self.night_share,
            "weekend_share": self.weekend_share,
            "night_patrols_30d": self.night_patrols_30d,
            "weekend_patrols_30d": self.weekend_patrols_30d,
        }


def coverage(session: Session, cell_ids: list[int], at: datetime) -> dict[str, Coverage]:
    if not cell_ids:
        return {}
    rows = session.execute(
        load("coverage"), {"ids": cell_ids, "t": at, "tz": get_settings().timezone}
    )
    return {
        r.code: Coverage(
            r.code,
            round(float(r.spatial_share), 4),
            r.patrols_30d,
            r.night_patrols_30d,
            r.weekend_patrols_30d,
        )
        for r in rows
    }
