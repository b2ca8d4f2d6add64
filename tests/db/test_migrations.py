"""The Alembic revisions are the schema: they match the models and they reverse cleanly."""

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

from db.engine import make_engine
from db.migrate import alembic_config, upgrade_to_head


def test_migrations_match_the_models(migrated_template: Path) -> None:
    engine = make_engine(f"sqlite:///{migrated_template}")
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []
    engine.dispose()


def test_downgrade_to_base_and_up_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'roundtrip.db'}"
    upgrade_to_head(url)
    command.downgrade(alembic_config(url), "base")
    engine = make_engine(url)
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    engine.dispose()
    upgrade_to_head(url)
    engine = make_engine(url)
    assert {"candidates", "paredoes", "paredao_nominees"} <= set(inspect(engine).get_table_names())
    engine.dispose()
