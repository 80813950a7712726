"""The audit log: append-only, each entry chained to the one before by SHA-256 (SPEC §6–7).

`audit_head` holds the chain's latest sequence number and hash; appending locks that one row,
so entries get gap-free sequence numbers in commit order. A trigger (migration 0003) refuses
UPDATE, DELETE and TRUNCATE on `audit_log` for every role.

`audit_checkpoints` records verified prefixes of the chain, so a verification recomputes only
what was appended since (app/domain/accountability/verify.py). Append-only the same way (migration
0006), and the database takes a checkpoint only for an entry with exactly its stored hash."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, SmallInteger, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class AuditEntry(Base):
    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    actor: Mapped[str] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(Text)
    target_type: Mapped[str] = mapped_column(Text)
    target_id: Mapped[str | None] = mapped_column(Text)
    # The cell the target belongs to, so scoped supervisors see their own cells' entries.
    cell_id: Mapped[int | None] = mapped_column(BigInteger)
    before: Mapped[Any | None] = mapped_column(JSONB)
    after: Mapped[Any | None] = mapped_column(JSONB)
    prev_hash: Mapped[str] = mapped_column(Text)
    hash: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        Index("ix_audit_log_target", "target_type", "target_id"),
        Index("ix_audit_log_actor", "actor"),
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_cell_id", "cell_id"),
        # An export found by its file's hash (migration 0012; verify-export).
        Index(
            "ix_audit_log_export_sha256",
            text("(after ->> 'sha256')"),
            postgresql_where=text("action LIKE 'export.%'"),
        ),
        {"postgresql_partition_by": "RANGE (at)"},
    )
    # One partition per month of `at` (app/sql/partitions.py), so the table's primary key is
    # (seq, at); `seq` alone is unique because only the chain's head hands it out.
    __mapper_args__ = {"primary_key": [seq]}


class AuditHead(Base):
    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(Text)


class AuditCheckpoint(Base):
    """Entries 1..`seq` were recomputed and found whole; entry `seq` had hash `hash`."""

    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(Text)
    verified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The first entry that verification recomputed (1, or the checkpoint it started from).
    verified_from: Mapped[int] = mapped_column(BigInteger)
    verified_by: Mapped[str] = mapped_column(Text)
    # HMAC of (seq, hash) under the server's signing secret: access to the database alone
    # cannot make a checkpoint the server will start from.
    signature: Mapped[str] = mapped_column(Text)
