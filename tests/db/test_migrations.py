"""The Alembic revisions are the schema: they match the models and they reverse cleanly, on
SQLite and on PostgreSQL (where `votes` is list-partitioned by paredão)."""

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlmodel import SQLModel

from db.engine import make_engine
from db.migrate import alembic_config, upgrade_to_head
from db.paredoes import vote_partition
from tests.conftest import ADMIN, ON_POSTGRES, only_on_postgres

# The partitions of `votes` are not in the models: the partitioned table stands for them.
VOTE_PARTITION = re.compile(r"votes_(p\d+|default)")


def not_a_vote_partition(name: str | None, type_: str, _parents: Any) -> bool:
    return not (type_ == "table" and name is not None and VOTE_PARTITION.fullmatch(name))


def assert_matches_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": not_a_vote_partition}
        )
        assert compare_metadata(context, SQLModel.metadata) == []


def test_migrations_match_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert_matches_the_models(engine)
    finally:
        engine.dispose()


def test_downgrade_to_base_and_up_again(database_url: str, tmp_path: Path) -> None:
    # On PostgreSQL, the session's test database (migrated to head again at the end).
    url = database_url if ON_POSTGRES else f"sqlite:///{tmp_path / 'roundtrip.db'}"
    upgrade_to_head(url)
    command.downgrade(alembic_config(url), "base")
    engine = make_engine(url)
    try:
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    finally:
        engine.dispose()
    upgrade_to_head(url)
    engine = make_engine(url)
    try:
        assert {"candidates", "paredoes", "paredao_nominees", "votes"} <= set(
            inspect(engine).get_table_names()
        )
        assert_matches_the_models(engine)
    finally:
        engine.dispose()


def relkind(engine: Engine, table: str) -> str | None:
    with engine.connect() as connection:
        kind: str | None = connection.scalar(
            text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}
        )
    return kind


@only_on_postgres
class TestVotePartitions:
    async def test_each_paredao_gets_its_own_partition(
        self, database_url: str, client: httpx.AsyncClient, open_paredao: Callable[..., Any]
    ) -> None:
        p = await open_paredao(2)
        nominee = p["nominees"][0]["candidate_id"]
        body = {"nominee_id": nominee, "mode": "torcida", "voter_id": "v"}
        assert (await client.post(f"/paredoes/{p['id']}/votes", json=body)).status_code == 202
        engine = make_engine(database_url, pool_size=1)
        try:
            assert relkind(engine, "votes") == "p"
            assert relkind(engine, vote_partition(p["id"])) == "r"
            with engine.connect() as connection:
                partition = vote_partition(p["id"])
                stored = connection.scalar(text(f"SELECT count(*) FROM {partition}"))  # noqa: S608
                elsewhere = connection.scalar(text("SELECT count(*) FROM votes_default"))
            assert (stored, elsewhere) == (1, 0)
            assert (await client.get(f"/paredoes/{p['id']}/stats", headers=ADMIN)).json()[
                "total_votes"
            ] == 1
        finally:
            engine.dispose()

    def test_votes_of_existing_paredoes_survive_the_round_trip(self, database_url: str) -> None:
        """Downgrading below the partitioning and upgrading again keeps every vote row."""
        config = alembic_config(database_url)
        command.downgrade(config, "0002_votes")
        engine = make_engine(database_url, pool_size=1)
        try:
            assert relkind(engine, "votes") == "r"
            with engine.begin() as connection:
                for statement in (
                    "INSERT INTO candidates (id, name, email, birth_date, state, city, bio,"
                    " status, created_at, updated_at) VALUES (7, 'A', 'a@x.com', '1990-01-01',"
                    " 'SP', 'X', '', 'housemate', now(), now())",
                    "INSERT INTO paredoes (id, title, kind, status, unico_weight,"
                    " require_captcha, show_partial_results, created_at)"
                    " VALUES (5, 'P', 'eliminate', 'open', 0.5, false, false, now())",
                    "INSERT INTO paredao_nominees VALUES (5, 7, 0)",
                    "INSERT INTO votes VALUES (5, gen_random_uuid(), 7, 'torcida', 'v', NULL,"
                    " now())",
                ):
                    connection.execute(text(statement))
            command.upgrade(config, "head")
            assert relkind(engine, "votes") == "p"
            with engine.connect() as connection:
                assert connection.scalar(text("SELECT count(*) FROM votes_p5")) == 1
        finally:
            engine.dispose()
            upgrade_to_head(database_url)
