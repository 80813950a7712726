from sqlalchemy import Engine, inspect, text

from app.migrate import current_revision, upgrade


def test_migrate_twice_is_a_noop(database_url: str, engine: Engine) -> None:
    before = current_revision(engine)
    assert before is not None
    assert upgrade(database_url) == (before, before)


def test_schema_has_spatial_indexes_and_extensions(engine: Engine) -> None:
    with engine.connect() as conn:
        exts = set(conn.scalars(text("SELECT extname FROM pg_extension")))
        assert {"postgis", "ltree", "btree_gist"} <= exts
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("cells")}
    assert {
        "idx_cells_geom",
        "ix_cells_path",
        "ix_cells_leaf_geom",
        "ix_cells_depth_geom",
    } <= indexes


def test_models_and_migrations_agree(engine: Engine) -> None:
    """Autogenerate finds nothing to do: the ORM models are what the migrations build."""
    import warnings

    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from app.models import Base
    from app.sql.partitions import include_object

    with engine.connect() as conn, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "did not recognize type 'ltree'"
        context = MigrationContext.configure(conn, opts={"include_object": include_object})
        assert compare_metadata(context, Base.metadata) == []


def test_database_functions_and_triggers_are_what_app_sql_makes(engine: Engine) -> None:
    """Every gridwatch function and trigger is defined as the files of app/sql/ define it, and
    none is left that no file defines (e.g. frozen in an old migration)."""
    from app.sql import definitions

    with engine.connect() as conn, conn.begin():
        names = definitions.installed(conn)
        assert "gridwatch_refresh_inspection(bigint[])" in names
        assert "sources_placed ON sources" in names
        assert definitions.drift(conn) == []


def test_a_drifted_function_is_seen_and_migrate_puts_back_the_files(
    database_url: str, engine: Engine
) -> None:
    """A body from before (migration 0005's radius, a literal) and a function no file makes
    are drift; `gridwatch migrate` re-creates the files' bodies in every database."""
    from app.sql import definitions

    old_body = """
        CREATE OR REPLACE FUNCTION gridwatch_box(point geometry, radius_m double precision)
        RETURNS geometry LANGUAGE sql IMMUTABLE AS $$ SELECT ST_Expand(point, 0.001) $$;
        CREATE FUNCTION gridwatch_orphan() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
    """
    try:
        with engine.begin() as conn:
            conn.execute(text(old_body))
        with engine.connect() as conn, conn.begin():
            assert definitions.drift(conn) == [
                "gridwatch_box(geometry,double precision)",
                "gridwatch_orphan()",
            ]
        upgrade(database_url)
        with engine.connect() as conn, conn.begin():
            assert definitions.drift(conn) == ["gridwatch_orphan()"]  # migrations drop those
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP FUNCTION IF EXISTS gridwatch_orphan()"))
        upgrade(database_url)
