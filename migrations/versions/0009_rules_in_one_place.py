"""One rule, one place: the database's functions and triggers are re-created from app/sql/
(app/sql/definitions.py), and read their rule values — the source radius, the missed-problem
window, the staffing duties, the unfounded statuses — from the one-row table
`gridwatch_rules` instead of literals frozen in migration 0005.

The row is not written here: `gridwatch migrate` writes it from app/rules.py and the
settings once the migrations have run, and rebuilds the summaries computed with other values
(app/domain/status.py:keep_rules_in_step). Until then the triggers refuse to run, saying so.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.sql import definitions

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A restore of an older backup (pg_restore --clean drops only what the backup holds) may
    # be migrated again: a table already there stays.
    if not sa.inspect(op.get_bind()).has_table("gridwatch_rules"):
        op.create_table(
            "gridwatch_rules",
            sa.Column("id", sa.Boolean(), nullable=False),
            sa.Column("source_radius_m", sa.Float(), nullable=False),
            sa.Column("missed_problem_days", sa.Integer(), nullable=False),
            sa.Column("leader_duties", postgresql.ARRAY(sa.Text()), nullable=False),
            sa.Column("member_duties", postgresql.ARRAY(sa.Text()), nullable=False),
            sa.Column("unfounded_statuses", postgresql.ARRAY(sa.Text()), nullable=False),
            sa.Column(
                "updated_at",
                sa.DateTime(timezone=True),
                server_default=sa.func.now(),
                nullable=False,
            ),
            sa.CheckConstraint("id", name=op.f("ck_gridwatch_rules_one_row")),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_gridwatch_rules")),
        )
    definitions.install(op.get_bind())


def downgrade() -> None:
    # Back to the bodies migrations 0005 and 0006 made (their own text; the triggers keep
    # their names and functions), then the rule values go.
    script = op.get_context().script
    assert script is not None, "run through alembic's environment (gridwatch migrate)"
    op.execute(script.get_revision("0005").module.FUNCTIONS)
    op.execute(script.get_revision("0006").module.STAFF)
    op.execute("DROP FUNCTION gridwatch_box(geometry, double precision)")
    op.execute("DROP FUNCTION gridwatch_rule_values()")
    op.drop_table("gridwatch_rules")
