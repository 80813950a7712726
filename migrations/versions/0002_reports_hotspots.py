"""Reports, photos, track patrols, counted-patrol history (cell_visits), per-cell status,
hotspots and their events; sources can be retired.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 01:09:55.721923
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cell_status",
        sa.Column("cell_id", sa.BigInteger(), nullable=False),
        sa.Column("last_patrol_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_patrol_by_id", sa.BigInteger(), nullable=True),
        sa.Column("open_hotspots", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "running_deadlines",
            postgresql.ARRAY(sa.DateTime(timezone=True)),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("next_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["cell_id"], ["cells.id"], name=op.f("fk_cell_status_cell_id_cells")
        ),
        sa.ForeignKeyConstraint(
            ["last_patrol_by_id"],
            ["persons.id"],
            name=op.f("fk_cell_status_last_patrol_by_id_persons"),
        ),
        sa.PrimaryKeyConstraint("cell_id", name=op.f("pk_cell_status")),
    )
    op.create_index("ix_cell_status_next_deadline", "cell_status", ["next_deadline"])
    op.create_geospatial_table(
        "patrols",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("reporter_id", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "track",
            Geometry(
                geometry_type="LINESTRING",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("flags", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("counted_points", sa.Integer(), nullable=False),
        sa.Column("body_hash", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["reporter_id"], ["persons.id"], name=op.f("fk_patrols_reporter_id_persons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patrols")),
    )
    op.create_geospatial_index(
        "idx_patrols_track",
        "patrols",
        ["track"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_patrols_reporter_id"), "patrols", ["reporter_id"], unique=False)
    op.create_geospatial_table(
        "reports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("reporter_id", sa.BigInteger(), nullable=False),
        sa.Column("cell_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("source_id", sa.BigInteger(), nullable=True),
        sa.Column("flags", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.Column("body_hash", sa.Text(), nullable=False),
        sa.Column("origin", sa.Text(), server_default="api", nullable=False),
        sa.Column("review_status", sa.Text(), nullable=True),
        sa.Column("accepted_flags", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("reviewed_by_id", sa.BigInteger(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('patrol', 'issue')", name=op.f("ck_reports_kind")),
        sa.CheckConstraint(
            "review_status IN ('accepted', 'rejected')", name=op.f("ck_reports_review_status")
        ),
        sa.ForeignKeyConstraint(["cell_id"], ["cells.id"], name=op.f("fk_reports_cell_id_cells")),
        sa.ForeignKeyConstraint(
            ["reporter_id"], ["persons.id"], name=op.f("fk_reports_reporter_id_persons")
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by_id"], ["persons.id"], name=op.f("fk_reports_reviewed_by_id_persons")
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name=op.f("fk_reports_source_id_sources")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
    )
    op.create_geospatial_index(
        "idx_reports_geom",
        "reports",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(
        "ix_reports_cell_id_observed_at", "reports", ["cell_id", "observed_at"], unique=False
    )
    op.create_index(
        "ix_reports_reporter_id_observed_at",
        "reports",
        ["reporter_id", "observed_at"],
        unique=False,
    )
    op.create_index(
        "ix_reports_unreviewed",
        "reports",
        ["cell_id"],
        unique=False,
        postgresql_where="NOT counted AND review_status IS NULL",
    )
    op.create_geospatial_table(
        "cell_visits",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("cell_id", sa.BigInteger(), nullable=False),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("report_id", sa.Uuid(), nullable=True),
        sa.Column("patrol_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["cell_id"], ["cells.id"], name=op.f("fk_cell_visits_cell_id_cells")
        ),
        sa.ForeignKeyConstraint(
            ["patrol_id"], ["patrols.id"], name=op.f("fk_cell_visits_patrol_id_patrols")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_cell_visits_person_id_persons")
        ),
        sa.ForeignKeyConstraint(
            ["report_id"], ["reports.id"], name=op.f("fk_cell_visits_report_id_reports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cell_visits")),
    )
    op.create_index(
        "ix_cell_visits_cell_id_observed_at",
        "cell_visits",
        ["cell_id", "observed_at"],
        unique=False,
    )
    op.create_index(op.f("ix_cell_visits_patrol_id"), "cell_visits", ["patrol_id"], unique=False)
    op.create_index(
        "ix_cell_visits_person_id_observed_at",
        "cell_visits",
        ["person_id", "observed_at"],
        unique=False,
    )
    op.create_index(op.f("ix_cell_visits_report_id"), "cell_visits", ["report_id"], unique=False)
    op.create_geospatial_table(
        "hotspots",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("cell_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("report_id", sa.Uuid(), nullable=True),
        sa.Column("created_by_id", sa.BigInteger(), nullable=True),
        sa.Column("channel", sa.Text(), nullable=True),
        sa.Column("contact", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("status", sa.Text(), server_default="reported", nullable=False),
        sa.Column("assignee_id", sa.BigInteger(), nullable=True),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("extensions", sa.Integer(), server_default="0", nullable=False),
        sa.Column("reworks", sa.Integer(), server_default="0", nullable=False),
        sa.Column("reopens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rectified_by_id", sa.BigInteger(), nullable=True),
        sa.Column("rectified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("evidence_report_id", sa.Uuid(), nullable=True),
        sa.Column("missed_by_grid", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("body_hash", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "source IN ('patrol', 'complaint', 'inspection', 'fire_point', 'monitoring')",
            name=op.f("ck_hotspots_source"),
        ),
        sa.CheckConstraint(
            "status IN ('reported', 'accepted', 'rejected', 'dispatched', 'rectifying', "
            "'rectified', 'closed', 'reopened')",
            name=op.f("ck_hotspots_status"),
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["persons.id"], name=op.f("fk_hotspots_assignee_id_persons")
        ),
        sa.ForeignKeyConstraint(["cell_id"], ["cells.id"], name=op.f("fk_hotspots_cell_id_cells")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["persons.id"], name=op.f("fk_hotspots_created_by_id_persons")
        ),
        sa.ForeignKeyConstraint(
            ["evidence_report_id"],
            ["reports.id"],
            name=op.f("fk_hotspots_evidence_report_id_reports"),
        ),
        sa.ForeignKeyConstraint(
            ["rectified_by_id"], ["persons.id"], name=op.f("fk_hotspots_rectified_by_id_persons")
        ),
        sa.ForeignKeyConstraint(
            ["report_id"], ["reports.id"], name=op.f("fk_hotspots_report_id_reports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hotspots")),
    )
    op.create_geospatial_index(
        "idx_hotspots_geom",
        "hotspots",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index("ix_hotspots_cell_id_status", "hotspots", ["cell_id", "status"], unique=False)
    op.create_index(
        "ix_hotspots_running_deadline",
        "hotspots",
        ["cell_id", "deadline"],
        unique=False,
        postgresql_where="status IN ('dispatched', 'rectifying')",
    )
    op.create_table(
        "photos",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("content_type", sa.Text(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("exif_lat", sa.Float(), nullable=True),
        sa.Column("exif_lon", sa.Float(), nullable=True),
        sa.Column("exif_taken_at", sa.Text(), nullable=True),
        sa.Column("uploaded_by_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "uploaded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["report_id"], ["reports.id"], name=op.f("fk_photos_report_id_reports")
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"], ["persons.id"], name=op.f("fk_photos_uploaded_by_id_persons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_photos")),
        sa.UniqueConstraint("report_id", "sha256", name=op.f("uq_photos_report_id_sha256")),
    )
    op.create_index(op.f("ix_photos_report_id"), "photos", ["report_id"], unique=False)
    op.create_index(op.f("ix_photos_sha256"), "photos", ["sha256"], unique=False)
    op.create_table(
        "hotspot_events",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("hotspot_id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("actor_label", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("from_status", sa.Text(), nullable=True),
        sa.Column("to_status", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("assignee_id", sa.BigInteger(), nullable=True),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("evidence_report_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["persons.id"], name=op.f("fk_hotspot_events_actor_id_persons")
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["persons.id"], name=op.f("fk_hotspot_events_assignee_id_persons")
        ),
        sa.ForeignKeyConstraint(
            ["evidence_report_id"],
            ["reports.id"],
            name=op.f("fk_hotspot_events_evidence_report_id_reports"),
        ),
        sa.ForeignKeyConstraint(
            ["hotspot_id"], ["hotspots.id"], name=op.f("fk_hotspot_events_hotspot_id_hotspots")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hotspot_events")),
    )
    op.create_index(
        op.f("ix_hotspot_events_hotspot_id"), "hotspot_events", ["hotspot_id"], unique=False
    )
    op.add_column("sources", sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("sources", sa.Column("lat", sa.Float(), nullable=True))
    op.add_column("sources", sa.Column("lon", sa.Float(), nullable=True))
    op.execute("UPDATE sources SET lat = ST_Y(geom), lon = ST_X(geom)")
    op.alter_column("sources", "lat", nullable=False)
    op.alter_column("sources", "lon", nullable=False)


def downgrade() -> None:
    op.drop_column("sources", "retired_at")
    op.drop_column("sources", "lat")
    op.drop_column("sources", "lon")
    op.drop_index(op.f("ix_hotspot_events_hotspot_id"), table_name="hotspot_events")
    op.drop_table("hotspot_events")
    op.drop_index(op.f("ix_photos_sha256"), table_name="photos")
    op.drop_index(op.f("ix_photos_report_id"), table_name="photos")
    op.drop_table("photos")
    op.drop_index(
        "ix_hotspots_running_deadline",
        table_name="hotspots",
        postgresql_where="status IN ('dispatched', 'rectifying')",
    )
    op.drop_index("ix_hotspots_cell_id_status", table_name="hotspots")
    op.drop_geospatial_index(
        "idx_hotspots_geom", table_name="hotspots", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("hotspots")
    op.drop_index(op.f("ix_cell_visits_report_id"), table_name="cell_visits")
    op.drop_index("ix_cell_visits_person_id_observed_at", table_name="cell_visits")
    op.drop_index(op.f("ix_cell_visits_patrol_id"), table_name="cell_visits")
    op.drop_index("ix_cell_visits_cell_id_observed_at", table_name="cell_visits")
    op.drop_geospatial_table("cell_visits")
    op.drop_index(
        "ix_reports_unreviewed",
        table_name="reports",
        postgresql_where="NOT counted AND review_status IS NULL",
    )
    op.drop_index("ix_reports_reporter_id_observed_at", table_name="reports")
    op.drop_index("ix_reports_cell_id_observed_at", table_name="reports")
    op.drop_geospatial_index(
        "idx_reports_geom", table_name="reports", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("reports")
    op.drop_index(op.f("ix_patrols_reporter_id"), table_name="patrols")
    op.drop_geospatial_index(
        "idx_patrols_track", table_name="patrols", postgresql_using="gist", column_name="track"
    )
    op.drop_geospatial_table("patrols")
    op.drop_table("cell_status")
