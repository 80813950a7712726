"""Grid cells (tree + geometry), persons, duties, accounts, pollution-source ledger.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)

# The cell tree is kept consistent in the database, whoever writes: each cell's `path` is its
# parent's path plus its own id (ltree), `area_m2` is the geodesic area, and `is_leaf` turns
# false when a child appears. Statement-level triggers keep bulk imports of 100k cells cheap.
CELL_TRIGGERS = """
CREATE FUNCTION cells_before_write() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE parent_path ltree;
BEGIN
  IF NEW.parent_id IS NULL THEN
    NEW.path := text2ltree(NEW.id::text);
  ELSE
    SELECT path INTO parent_path FROM cells WHERE id = NEW.parent_id;
    IF parent_path IS NULL THEN
      RAISE EXCEPTION 'parent cell id % does not exist', NEW.parent_id;
    END IF;
    IF TG_OP = 'UPDATE' AND parent_path <@ OLD.path THEN
      RAISE EXCEPTION 'cell % cannot be moved under its own descendant', NEW.code;
    END IF;
    NEW.path := parent_path || text2ltree(NEW.id::text);
  END IF;
  NEW.area_m2 := ST_Area(NEW.geom::geography);
  RETURN NEW;
END $$;

CREATE TRIGGER cells_before_insert BEFORE INSERT ON cells
  FOR EACH ROW EXECUTE FUNCTION cells_before_write();
CREATE TRIGGER cells_before_update BEFORE UPDATE OF parent_id, geom ON cells
  FOR EACH ROW EXECUTE FUNCTION cells_before_write();

-- A cell moved to another parent: re-root its subtree's paths and fix both parents' is_leaf.
-- Row level and only on a real parent change, so the is_leaf updates below cannot recurse.
CREATE FUNCTION cells_after_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE cells SET path = NEW.path || subpath(path, nlevel(OLD.path))
   WHERE path <@ OLD.path AND id <> NEW.id;
  UPDATE cells c SET is_leaf = NOT EXISTS (SELECT 1 FROM cells k WHERE k.parent_id = c.id)
   WHERE c.id IN (OLD.parent_id, NEW.parent_id);
  RETURN NULL;
END $$;
CREATE TRIGGER cells_after_move AFTER UPDATE OF parent_id ON cells
  FOR EACH ROW WHEN (OLD.parent_id IS DISTINCT FROM NEW.parent_id)
  EXECUTE FUNCTION cells_after_move();

CREATE FUNCTION cells_refresh_leaf_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE cells SET is_leaf = false
   WHERE is_leaf AND id IN (SELECT DISTINCT parent_id FROM new_rows WHERE parent_id IS NOT NULL);
  RETURN NULL;
END $$;
CREATE TRIGGER cells_leaf_after_insert AFTER INSERT ON cells
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION cells_refresh_leaf_after_insert();

CREATE FUNCTION cells_refresh_leaf_after_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE cells c SET is_leaf = NOT EXISTS (SELECT 1 FROM cells k WHERE k.parent_id = c.id)
   WHERE c.id IN (SELECT parent_id FROM old_rows WHERE parent_id IS NOT NULL);
  RETURN NULL;
END $$;
CREATE TRIGGER cells_leaf_after_delete AFTER DELETE ON cells
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
  EXECUTE FUNCTION cells_refresh_leaf_after_delete();
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("CREATE EXTENSION IF NOT EXISTS ltree")

    op.create_table(
        "cells",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("level", sa.SmallInteger, nullable=False),
        sa.Column(
            "parent_id", sa.BigInteger, sa.ForeignKey("cells.id", name="fk_cells_parent_id_cells")
        ),
        sa.Column("path", sa.Text, nullable=False),  # becomes ltree below
        sa.Column("is_leaf", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("risk", sa.Text, nullable=False, server_default="medium"),
        sa.Column("patrol_interval_hours", sa.Integer, nullable=False),
        sa.Column("valid_from", TS),
        sa.Column("valid_to", TS),
        sa.Column(
            "geom",
            geoalchemy2.Geometry("MULTIPOLYGON", srid=4326, spatial_index=False),
            nullable=False,
        ),
        sa.Column("area_m2", sa.Float, nullable=False, server_default="0"),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_cells"),
        sa.UniqueConstraint("code", name="uq_cells_code"),
        sa.CheckConstraint("risk IN ('high', 'medium', 'low')", name="ck_cells_risk"),
        sa.CheckConstraint("level >= 1", name="ck_cells_level"),
        sa.CheckConstraint("patrol_interval_hours > 0", name="ck_cells_patrol_interval"),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_from IS NULL OR valid_to > valid_from",
            name="ck_cells_validity",
        ),
    )
    # ltree needs the extension; switch the column type after creation.
    op.execute("ALTER TABLE cells ALTER COLUMN path TYPE ltree USING path::ltree")
    op.create_index("ix_cells_parent_id", "cells", ["parent_id"])
    op.create_index("ix_cells_path", "cells", ["path"], postgresql_using="gist")
    op.create_index("idx_cells_geom", "cells", ["geom"], postgresql_using="gist")
    op.create_index(
        "ix_cells_leaf_geom",
        "cells",
        ["geom"],
        postgresql_using="gist",
        postgresql_where=sa.text("is_leaf"),
    )
    op.execute(CELL_TRIGGERS)

    op.create_table(
        "persons",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("username", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("phone", sa.Text),
        sa.Column("role", sa.Text, nullable=False, server_default="inspector"),
        sa.Column(
            "scope_cell_id",
            sa.BigInteger,
            sa.ForeignKey("cells.id", name="fk_persons_scope_cell_id_cells"),
        ),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_persons"),
        sa.UniqueConstraint("username", name="uq_persons_username"),
        sa.CheckConstraint(
            "role IN ('inspector', 'leader', 'supervisor', 'command', 'discipline', 'admin')",
            name="ck_persons_role",
        ),
    )

    op.create_table(
        "user_accounts",
        sa.Column(
            "person_id",
            sa.BigInteger,
            sa.ForeignKey("persons.id", name="fk_user_accounts_person_id_persons"),
            nullable=False,
        ),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("password_changed_at", TS, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("person_id", name="pk_user_accounts"),
    )

    op.create_table(
        "duties",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column(
            "cell_id",
            sa.BigInteger,
            sa.ForeignKey("cells.id", name="fk_duties_cell_id_cells"),
            nullable=False,
        ),
        sa.Column(
            "person_id",
            sa.BigInteger,
            sa.ForeignKey("persons.id", name="fk_duties_person_id_persons"),
            nullable=False,
        ),
        sa.Column("duty", sa.Text, nullable=False),
        sa.Column("valid_from", TS),
        sa.Column("valid_to", TS),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_duties"),
        sa.UniqueConstraint(
            "cell_id",
            "person_id",
            "duty",
            "valid_from",
            name="uq_duties_cell_id_person_id_duty_valid_from",
            postgresql_nulls_not_distinct=True,
        ),
        sa.CheckConstraint(
            "duty IN ('leader', 'member', 'patroller', 'supervisor')", name="ck_duties_duty"
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_from IS NULL OR valid_to > valid_from",
            name="ck_duties_validity",
        ),
    )
    op.create_index("ix_duties_cell_id", "duties", ["cell_id"])
    op.create_index("ix_duties_person_id", "duties", ["person_id"])

    op.create_table(
        "sources",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column(
            "geom", geoalchemy2.Geometry("POINT", srid=4326, spatial_index=False), nullable=False
        ),
        sa.Column(
            "cell_id", sa.BigInteger, sa.ForeignKey("cells.id", name="fk_sources_cell_id_cells")
        ),
        sa.Column(
            "surveyed_by_id",
            sa.BigInteger,
            sa.ForeignKey("persons.id", name="fk_sources_surveyed_by_id_persons"),
        ),
        sa.Column("surveyed_at", TS),
        sa.Column("inspection_interval_hours", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_sources"),
        sa.CheckConstraint(
            "type IN ('outfall', 'scattered_polluter', 'construction_site', 'coal_boiler', "
            "'voc_enterprise', 'fuel_station', 'tailings_pond', 'waste_dump', 'open_bbq', "
            "'muck_truck_site')",
            name="ck_sources_type",
        ),
        sa.CheckConstraint("inspection_interval_hours > 0", name="ck_sources_inspection_interval"),
    )
    op.create_index("ix_sources_cell_id", "sources", ["cell_id"])
    op.create_index("idx_sources_geom", "sources", ["geom"], postgresql_using="gist")


def downgrade() -> None:
    for table in ("sources", "duties", "user_accounts", "persons", "cells"):
        op.drop_table(table)
    for fn in (
        "cells_before_write",
        "cells_after_move",
        "cells_refresh_leaf_after_insert",
        "cells_refresh_leaf_after_delete",
    ):
        op.execute(f"DROP FUNCTION IF EXISTS {fn}()")
