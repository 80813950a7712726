"""One-time passwords: an account created from a roster (`import-roster --accounts`) must
choose its own password at its first sign-in; until then its token opens nothing but the
password change.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "user_accounts",
        sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default="false"),
    )


def downgrade() -> None:
    op.drop_column("user_accounts", "must_change_password")
