"""Sign-in sessions (revocable tokens), the per-username sign-in back-off and per-address
rate-limit counters in the database; the account lockout columns go.

Every token names a row of `signin_sessions`; logging out, a password change and disabling the
account end rows, and a request whose session has ended is refused. `signin_backoff` replaces
`user_accounts.failed_logins`/`locked_until` (a lock anyone could set off by typing a name):
it is keyed by an HMAC of the typed username, known or not. `rate_limit_hits` holds the
per-address limits (sign-in, Open311) so that several server processes share them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "signin_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("signed_in_from", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_signin_sessions_person_id_persons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signin_sessions")),
    )
    op.create_index(
        "ix_signin_sessions_person_id_created_at", "signin_sessions", ["person_id", "created_at"]
    )
    op.create_table(
        "signin_backoff",
        sa.Column("name_key", sa.Text(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", TS, nullable=False),
        sa.Column("retry_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("name_key", name=op.f("pk_signin_backoff")),
    )
    op.create_index("ix_signin_backoff_last_failure_at", "signin_backoff", ["last_failure_at"])
    op.create_table(
        "rate_limit_hits",
        sa.Column("limit_name", sa.Text(), nullable=False),
        sa.Column("client", sa.Text(), nullable=False),
        sa.Column("window_start", TS, nullable=False),
        sa.Column("hits", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "limit_name", "client", "window_start", name=op.f("pk_rate_limit_hits")
        ),
    )
    op.create_index("ix_rate_limit_hits_window_start", "rate_limit_hits", ["window_start"])
    op.drop_column("user_accounts", "locked_until")
    op.drop_column("user_accounts", "failed_logins")


def downgrade() -> None:
    op.add_column(
        "user_accounts",
        sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("user_accounts", sa.Column("locked_until", TS, nullable=True))
    op.drop_table("rate_limit_hits")
    op.drop_table("signin_backoff")
    op.drop_table("signin_sessions")
