"""Rotating PAREDAO_SECRET_KEY never lets a CPF vote twice: each paredão keeps the CPF key it
first hashed with, and a server without that key refuses its votos únicos instead of hashing
them with another one."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from pydantic import SecretStr
from sqlalchemy import text
from sqlmodel import Session

from config import Settings
from db.engine import make_engine
from db.migrate import alembic_config, upgrade_to_head
from db.paredoes import create_paredao, with_cpf_key
from model.errors import Invalid
from model.keys import Keys
from tests.conftest import (
    ADMIN_TOKEN,
    SECRET_KEY,
    TEST_NOW,
    Clock,
    IsolatedSettings,
    cpf,
)
from tests.support.api import assert_error
from tests.support.app import serving
from tests.support.paredoes import open_paredao_of
from tests.support.server import ROOMY_VOTE_DEADLINE_S

NEW_SECRET = "the-rotated-secret-key-0123456789abcdefgh"
OLDEST_SECRET = "a-secret-from-two-rotations-ago-0123456789"


def ring(database_url: str, secret: str, *previous: str) -> Settings:
    fields: dict[str, Any] = {"PAREDAO_PREVIOUS_SECRET_KEYS": SecretStr(",".join(previous))}
    return IsolatedSettings(
        DATABASE_URL=database_url,
        PAREDAO_ADMIN_TOKEN=SecretStr(ADMIN_TOKEN),
        PAREDAO_SECRET_KEY=SecretStr(secret),
        PAREDAO_VOTE_DEADLINE_S=ROOMY_VOTE_DEADLINE_S,  # a new writer process starts slowly
        **(fields if previous else {}),
    )


def unico(nominee: int, seed: int) -> dict[str, Any]:
    return {"nominee_id": nominee, "mode": "unico", "voter_id": f"v{seed}", "cpf": cpf(seed)}


def cpf_key_id(database_url: str, paredao_id: int) -> str | None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            stored: str | None = connection.scalar(
                text("SELECT cpf_key_id FROM paredoes WHERE id = :id"), {"id": paredao_id}
            )
    finally:
        engine.dispose()
    return stored


def set_cpf_key_id(database_url: str, paredao_id: int, value: str | None) -> None:
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text("UPDATE paredoes SET cpf_key_id = :v WHERE id = :id"),
                {"v": value, "id": paredao_id},
            )
    finally:
        engine.dispose()


def key_id_of(secret: str) -> str:
    return Keys.derive(secret.encode()).cpf_key_id


class TestRotation:
    async def test_a_cpf_cannot_vote_again_after_the_secret_is_rotated(
        self, database_url: str, clock: Clock, open_paredao: Callable[..., Any]
    ) -> None:
        p = await open_paredao()  # the `client` fixture: PAREDAO_SECRET_KEY=SECRET_KEY
        nominee = p["nominees"][0]["candidate_id"]
        url = f"/paredoes/{p['id']}/votes"
        async with serving(ring(database_url, SECRET_KEY), clock) as before:
            assert (await before.post(url, json=unico(nominee, 1))).status_code == 202
        assert cpf_key_id(database_url, p["id"]) == key_id_of(SECRET_KEY)

        async with serving(ring(database_url, NEW_SECRET, SECRET_KEY), clock) as after:
            r = await after.post(url, json=unico(nominee, 1))
            assert_error(r, 409, "cpf_already_voted")
            assert (await after.post(url, json=unico(nominee, 2))).status_code == 202
        assert cpf_key_id(database_url, p["id"]) == key_id_of(SECRET_KEY)

    async def test_a_paredao_created_after_the_rotation_uses_the_new_key(
        self, database_url: str, clock: Clock, make_housemates: Callable[[int], Any]
    ) -> None:
        nominees = await make_housemates(2)
        async with serving(ring(database_url, NEW_SECRET, SECRET_KEY), clock) as after:
            paredao_id = (await open_paredao_of(after, nominees))["id"]
            url = f"/paredoes/{paredao_id}/votes"
            body = unico(nominees[0], 1)
            assert (await after.post(url, json=body)).status_code == 202
        assert cpf_key_id(database_url, paredao_id) == key_id_of(NEW_SECRET)
        # Its CPFs need the new key: a server that has only the old one refuses them.
        async with serving(ring(database_url, SECRET_KEY), clock) as rolled_back:
            r = await rolled_back.post(url, json=body)
            assert_error(r, 503, "cpf_key_missing")

    async def test_a_ring_without_the_paredaos_key_refuses_votos_unicos_and_names_it(
        self, database_url: str, clock: Clock, open_paredao: Callable[..., Any]
    ) -> None:
        p = await open_paredao()
        nominee = p["nominees"][0]["candidate_id"]
        url = f"/paredoes/{p['id']}/votes"
        async with serving(ring(database_url, SECRET_KEY), clock) as before:
            assert (await before.post(url, json=unico(nominee, 1))).status_code == 202

        async with serving(ring(database_url, NEW_SECRET), clock) as forgot_the_old_key:
            r = await forgot_the_old_key.post(url, json=unico(nominee, 1))
            assert_error(r, 503, "cpf_key_missing")
            assert key_id_of(SECRET_KEY) in r.json()["detail"]
            assert "PAREDAO_PREVIOUS_SECRET_KEYS" in r.json()["detail"]
            torcida = {"nominee_id": nominee, "mode": "torcida", "voter_id": "device"}
            assert (await forgot_the_old_key.post(url, json=torcida)).status_code == 202
        assert cpf_key_id(database_url, p["id"]) == key_id_of(SECRET_KEY)  # never re-pinned


class TestParedoesFromBeforeKeyIds:
    def test_the_migration_leaves_them_without_a_key_id(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'before.db'}"
        command.upgrade(alembic_config(url), "0006_revoked_sessions")
        engine = make_engine(url)
        try:
            with engine.begin() as connection:
                connection.execute(
                    text(
                        "INSERT INTO paredoes (title, kind, status, unico_weight, "
                        "require_captcha, show_partial_results, created_at) "
                        "VALUES ('P', 'eliminate', 'open', 0.5, 0, 1, '2026-11-21 22:00:00')"
                    )
                )
        finally:
            engine.dispose()
        upgrade_to_head(url)
        assert cpf_key_id(url, 1) is None

    async def test_they_take_the_oldest_key_of_the_ring(
        self, database_url: str, clock: Clock, open_paredao: Callable[..., Any]
    ) -> None:
        """Paredões from before migration 0007 have no key id: they were hashed with the
        secret in force then, which a rotated server lists last in
        PAREDAO_PREVIOUS_SECRET_KEYS."""
        p = await open_paredao()
        nominee = p["nominees"][0]["candidate_id"]
        url = f"/paredoes/{p['id']}/votes"
        set_cpf_key_id(database_url, p["id"], None)  # as migration 0007 leaves it
        async with serving(ring(database_url, OLDEST_SECRET), clock) as old_server:
            assert (await old_server.post(url, json=unico(nominee, 1))).status_code == 202

        settings = ring(database_url, NEW_SECRET, SECRET_KEY, OLDEST_SECRET)
        async with serving(settings, clock) as rotated_twice:
            r = await rotated_twice.post(url, json=unico(nominee, 1))
            assert_error(r, 409, "cpf_already_voted")
            assert (await rotated_twice.post(url, json=unico(nominee, 2))).status_code == 202
        assert cpf_key_id(database_url, p["id"]) is None


def test_a_paredao_is_created_only_through_an_engine_that_names_the_key(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    try:
        with Session(engine) as session, pytest.raises(RuntimeError, match="with_cpf_key"):
            create_paredao(
                session, {"title": "P", "kind": "eliminate", "nominee_ids": []}, TEST_NOW
            )
        keyed = with_cpf_key(engine, "0123456789abcdef")
        # Past the key, the nominees are checked as ever.
        with Session(keyed) as session, pytest.raises(Invalid, match="99 is not a candidate"):
            body = {"title": "P", "kind": "eliminate", "nominee_ids": [99]}
            create_paredao(session, body, TEST_NOW)
    finally:
        engine.dispose()
