"""People, their system role and scope, duty assignments over time, and login accounts (SPEC §3)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, created_at_column
from app.models.grid import Cell
from app.rules import DUTIES, sql_in

ROLES = ("inspector", "leader", "supervisor", "command", "discipline", "admin")


class Person(Base):
    __tablename__ = "persons"
    __table_args__ = (
        CheckConstraint(
            "role IN ('inspector', 'leader', 'supervisor', 'command', 'discipline', 'admin')",
            name="role",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    username: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text, server_default="inspector")
    # A cell whose subtree this person may see; NULL = whole territory for
    # supervisor/command/discipline, and "cells I hold a duty on" for inspector/leader.
    scope_cell_id: Mapped[int | None] = mapped_column(ForeignKey("cells.id"))
    created_at: Mapped[datetime] = created_at_column()

    scope_cell: Mapped[Cell | None] = relationship(lazy="joined")
    account: Mapped[UserAccount | None] = relationship(back_populates="person", uselist=False)


class UserAccount(Base):
    __tablename__ = "user_accounts"

    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), primary_key=True)
    password_hash: Mapped[str] = mapped_column(Text)  # argon2id, via pwdlib
    # False: disabled — cannot sign in, and every session of the account has ended.
    is_active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[datetime] = created_at_column()
    password_changed_at: Mapped[datetime] = created_at_column()
    # A one-time password (an account made from a roster): the next sign-in must replace it,
    # and until then the account's tokens open nothing but the password change.
    must_change_password: Mapped[bool] = mapped_column(Boolean, server_default="false")

    person: Mapped[Person] = relationship(back_populates="account", lazy="joined")


class Duty(Base):
    """A person on duty for a cell over [valid_from, valid_to). Rows are history: a duty
    ends by setting valid_to, never by deleting or overwriting the person."""

    __tablename__ = "duties"
    __table_args__ = (
        CheckConstraint(sql_in("duty", DUTIES), name="duty"),
        CheckConstraint(
            "valid_to IS NULL OR valid_from IS NULL OR valid_to > valid_from", name="validity"
        ),
        UniqueConstraint(
            "cell_id", "person_id", "duty", "valid_from", postgresql_nulls_not_distinct=True
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    cell_id: Mapped[int] = mapped_column(ForeignKey("cells.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    duty: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()

    person: Mapped[Person] = relationship(lazy="joined")
    cell: Mapped[Cell] = relationship()
