"""Whether the database can be used: reachable, and migrated."""

from sqlalchemy import Engine, text


def schema_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None if it was never migrated); raises the
    driver's error if the database cannot be reached."""
    with engine.connect() as connection:
        has_table = engine.dialect.has_table(connection, "alembic_version")
        if not has_table:
            return None
        revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return None if revision is None else str(revision)
