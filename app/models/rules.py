"""The rule values the database's own functions read (app/rules.py, app/sql/fn_rules.sql)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Float, Integer, Text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column


class RuleValues(Base):
    """One row, written from app/rules.py:database_values() by
    app/domain/status.py:keep_rules_in_step — never edited by hand: a value changed here
    alone would disagree with the queries, which take the same values as parameters."""

    __tablename__ = "gridwatch_rules"
    __table_args__ = (CheckConstraint("id", name="one_row"),)

    id: Mapped[bool] = mapped_column(Boolean, primary_key=True, default=True)
    source_radius_m: Mapped[float] = mapped_column(Float)
    missed_problem_days: Mapped[int] = mapped_column(Integer)
    leader_duties: Mapped[list[str]] = mapped_column(ARRAY(Text))
    member_duties: Mapped[list[str]] = mapped_column(ARRAY(Text))
    unfounded_statuses: Mapped[list[str]] = mapped_column(ARRAY(Text))
    updated_at: Mapped[datetime] = created_at_column()
