"""Cells by depth and place: a low-zoom map tile asks for the areas of one tree depth
meeting it (app/domain/supervision/tiles.py, _PARENTS_IN_TILE). Through the geometry index
alone that read every cell in the tile's box — a province's 100k unit cells at zoom 6 to keep
~100 districts. One GiST index over (depth, geometry) finds them directly (btree_gist gives
GiST the integer depth; it is a trusted extension, as postgis and ltree are here).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 19:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_cells_depth_geom ON cells USING gist (nlevel(path), geom)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_cells_depth_geom")
