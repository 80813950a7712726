from sqlalchemy import Engine, inspect, text

from app.migrate import current_revision, upgrade


def test_migrate_twice_is_a_noop(database_url: str, engine: Engine) -> None:
    before = current_revision(engine)
    assert before is not None
    assert upgrade(database_url) == (before, before)


def test_schema_has_spatial_indexes_and_extensions(engine: Engine) -> None:
    with engine.connect() as conn:
        exts = set(conn.scalars(text("SELECT extname FROM pg_extension")))
        assert {"postgis", "ltree"} <= exts
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("cells")}
    assert {"idx_cells_geom", "ix_cells_path", "ix_cells_leaf_geom"} <= indexes


def test_models_and_migrations_agree(engine: Engine) -> None:
    """Autogenerate finds nothing to do: the ORM models are what the migrations build."""
    import warnings

    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from geoalchemy2 import alembic_helpers

    from app.models import Base

    with engine.connect() as conn, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "did not recognize type 'ltree'"
        context = MigrationContext.configure(
            conn, opts={"include_object": alembic_helpers.include_object}
        )
        assert compare_metadata(context, Base.metadata) == []
