"""One clock for the rules: `gridwatch_now()` (the transaction's now(), moved by the session
setting gridwatch.clock_offset, which only the test suite sets) replaces now() where a
summary depends on the current instant: the staffing summary's "active now" and "valid
until". The function bodies live in app/sql/ and are re-created from there.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 09:00:00
"""

from collections.abc import Sequence

from alembic import op

from app.sql import source

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(source("fn_clock"))
    op.execute(source("fn_refresh_staff"))


def downgrade() -> None:
    op.execute(source("fn_refresh_staff").replace("gridwatch_now()", "now()"))
    op.execute("DROP FUNCTION gridwatch_now(); DROP FUNCTION gridwatch_clock_offset()")
