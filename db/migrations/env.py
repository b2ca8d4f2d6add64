"""Alembic environment: migrates the database named by DATABASE_URL (or the caller's URL)."""

import re

from alembic import context
from sqlmodel import SQLModel

import model.audit
import model.candidate
import model.certificate
import model.paredao
import model.session
import model.vote
from config import get_settings
from db.engine import make_engine

config = context.config
target_metadata = SQLModel.metadata
_ = model.candidate


def _not_a_vote_partition(name: str | None, type_: str, _parents: object) -> bool:
    """PostgreSQL keeps votes in one partition per paredão (made with the paredão, not by a
    revision): autogenerate must not propose to drop them."""
    return not (
        type_ == "table" and name is not None and re.fullmatch(r"votes_(p\d+|default)", name)
    )


def run_migrations_online() -> None:
    url = config.attributes.get("database_url") or get_settings().database_url
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=True,  # SQLite can only alter tables by copying them
            compare_type=True,
            include_name=_not_a_vote_partition,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
