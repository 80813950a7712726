"""Per-parent roll-up of the gap summaries, for low-zoom map tiles and the dashboards'
roll-up: `cell_rollup`, one row per cell with unit cells among its children, folding its
leaves' summaries (cell_status, the sources' last inspection) into counts and sorted instants
(app/sql/fn_refresh_rollup.sql), so that a province's districts are read from ~1,600 rows
instead of evaluating 100,000 leaves. Kept by the triggers of app/sql/trg_rollup.sql: each
statement that moves a leaf's summary, a source or the tree notes the parent in
`cell_rollup_dirty`; a deferred constraint trigger recomputes the noted parents at commit,
under the summary lock protocol (gridwatch_lock_cells). And `cell_outlines`: each parent
cell's outline in Web Mercator, simplified once per zoom band, for the low-zoom tiles.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

from app.models.base import LTree
from app.sql import definitions

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSTANTS = ("unpatrolled_at", "overdue_at", "uninspected_at", "missed_until")
FUNCTIONS = (
    "gridwatch_rollup_flush()",
    "gridwatch_rollup_status_changed()",
    "gridwatch_rollup_sources_changed()",
    "gridwatch_rollup_cells_changed()",
    "gridwatch_rollup_touch(bigint[])",
    "gridwatch_rollup_touch_parents(bigint[])",
    "gridwatch_refresh_rollup(bigint[])",
    "gridwatch_refresh_outlines(bigint[])",
)


def upgrade() -> None:
    counts = ("leaf_cells", "never_patrolled", "patrolled", "open_hotspot", "unstaffed")
    op.create_table(
        "cell_rollup",
        sa.Column("parent_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("path", LTree(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in counts),
        *(
            sa.Column(
                name,
                postgresql.ARRAY(sa.DateTime(timezone=True)),
                server_default="{}",
                nullable=False,
            )
            for name in (*INSTANTS, "clear_from", "clear_until")
        ),
        sa.Column("exact_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("exact_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("parent_id", name=op.f("pk_cell_rollup")),
    )
    op.create_index("ix_cell_rollup_path", "cell_rollup", ["path"], postgresql_using="gist")
    op.create_table(
        "cell_rollup_dirty",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cell_rollup_dirty")),
    )
    op.create_table(
        "cell_outlines",
        sa.Column("cell_id", sa.BigInteger(), nullable=False),
        sa.Column("band", sa.SmallInteger(), nullable=False),
        sa.Column(
            "geom",
            Geometry(srid=3857, spatial_index=False, from_text="ST_GeomFromEWKT", name="geometry"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["cell_id"],
            ["cells.id"],
            name=op.f("fk_cell_outlines_cell_id_cells"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("cell_id", "band", name=op.f("pk_cell_outlines")),
    )
    definitions.install(op.get_bind())
    op.execute("SELECT gridwatch_refresh_outlines(ARRAY(SELECT id FROM cells WHERE NOT is_leaf))")
    # Every parent now: noted, and recomputed when this migration commits.
    op.execute(
        "SELECT gridwatch_rollup_touch_parents(ARRAY("
        "SELECT DISTINCT coalesce(parent_id, 0) FROM cells WHERE is_leaf))"
    )


def downgrade() -> None:
    for name in ("cell_status", "sources", "cells"):
        for event in ("inserted", "updated", "deleted"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}_{event}_rollup ON {name}")
    op.drop_table("cell_outlines")
    op.drop_table("cell_rollup_dirty")
    op.drop_table("cell_rollup")
    for function in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
