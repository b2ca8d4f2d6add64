"""A vote batch's statements on SQLite: one writer at a time, so no locks, one tally shard,
and constant statements on the driver's cursor (on the hot path SQLAlchemy's per-statement
work costs more than SQLite's)."""

import json
import sqlite3
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, select

from db.vote_statements import (
    BUDGETS,
    PAREDOES,
    SPENT,
    TALLY,
    VOTE_COLUMNS,
    VOTES,
    Schedule,
    UnexpectedReplay,
    Voter,
    cpf_voted,
    hour_of,
    torcida_votes_since,
    upsert,
)
from model.ballot import Ballot


class SQLiteVoteStatements:
    def __init__(self, connection: Connection, ballots: Sequence[Ballot]) -> None:
        self._connection = connection
        self._ballots = ballots

    def _cursor(self) -> Any:
        """A cursor of the driver's own connection, in the caller's transaction."""
        return self._connection.connection.cursor()

    def stored_votes(self, indexes: Sequence[int]) -> dict[int, Any]:
        by_paredao: dict[int, list[int]] = {}
        for i in indexes:
            by_paredao.setdefault(self._ballots[i].paredao_id, []).append(i)
        stored: dict[int, Any] = {}
        for paredao_id, wanted in by_paredao.items():
            # Almost always none is stored: ask which with one constant statement, and read
            # the (few) rows found through SQLAlchemy's types.
            ids = json.dumps([self._ballots[i].vote_id.hex for i in wanted])
            found = (
                self._cursor()
                .execute(
                    "SELECT vote_id FROM votes WHERE paredao_id = ?"
                    " AND vote_id IN (SELECT value FROM json_each(?))",
                    (paredao_id, ids),
                )
                .fetchall()
            )
            if not found:
                continue
            rows = self._connection.execute(
                select(VOTES).where(
                    VOTES.c.paredao_id == paredao_id,
                    VOTES.c.vote_id.in_([uuid.UUID(hex=h) for (h,) in found]),
                )
            )
            by_id = {r.vote_id: r for r in rows}
            for i in wanted:
                row = by_id.get(self._ballots[i].vote_id)
                if row is not None:
                    stored[i] = row
        return stored

    def schedules(self, paredao_ids: set[int]) -> dict[int, Any]:
        # Constant SQL on the driver's cursor: through SQLAlchemy (an expanding IN, its
        # compiled-statement cache) these two small reads cost ~1 ms of CPU a batch.
        dialect = self._connection.dialect
        when = PAREDOES.c.opens_at.type.dialect_impl(dialect).result_processor(dialect, None)
        rows = self._cursor().execute(
            "SELECT id, status, opens_at, closes_at FROM paredoes"
            " WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(paredao_ids)),),
        )
        if when is None:  # pragma: no cover (SQLite keeps times as text)
            return {i: Schedule(i, status, o, c) for i, status, o, c in rows}
        return {i: Schedule(i, status, when(o), when(c)) for i, status, o, c in rows}

    def nominees(self, paredao_ids: set[int]) -> dict[int, frozenset[int]]:
        found: dict[int, set[int]] = {p: set() for p in paredao_ids}
        rows = self._cursor().execute(
            "SELECT paredao_id, candidate_id FROM paredao_nominees"
            " WHERE paredao_id IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(paredao_ids)),),
        )
        for paredao_id, candidate_id in rows:
            found[paredao_id].add(candidate_id)
        return {p: frozenset(c) for p, c in found.items()}

    def spend_captchas(self, indexes: Sequence[int]) -> set[int]:
        first: dict[str, int] = {}
        refused: set[int] = set()
        for i in indexes:
            captcha = self._ballots[i].captcha
            assert captcha is not None
            if captcha.challenge in first:
                refused.add(i)
            else:
                first[captcha.challenge] = i
        if not first:
            return refused
        rows = [
            {"challenge": c, "expires_at": self._ballots[i].captcha.expires_at}  # type: ignore[union-attr]
            for c, i in sorted(first.items())
        ]
        statement = (
            upsert(self._connection, SPENT).on_conflict_do_nothing().returning(SPENT.c.challenge)
        )
        spent = set(self._connection.execute(statement, rows).scalars())
        refused.update(i for c, i in first.items() if c not in spent)
        return refused

    def torcida_budgets(self, voters: Sequence[Voter]) -> dict[Voter, str]:
        budgets: dict[Voter, str] = {}
        for paredao_id in sorted({p for p, _ in voters}):
            ids = json.dumps([v for p, v in voters if p == paredao_id])
            rows = self._cursor().execute(
                "SELECT voter_id, recent FROM torcida_budgets WHERE paredao_id = ?"
                " AND voter_id IN (SELECT value FROM json_each(?))",
                (paredao_id, ids),
            )
            budgets.update({(paredao_id, v): recent for v, recent in rows})
        return budgets

    def save_torcida_budgets(self, budgets: Mapping[Voter, str]) -> None:
        _insert_many(
            self._connection,
            BUDGETS,
            ("paredao_id", "voter_id", "recent"),
            [(p, v, recent) for (p, v), recent in sorted(budgets.items())],
            "ON CONFLICT (paredao_id, voter_id) DO UPDATE SET recent = excluded.recent",
        )

    def insert_counted(self, indexes: Sequence[int]) -> set[int]:
        # This transaction is the only writer and replays were answered before (a vote_id
        # not looked up is new): only a voto único (its CPF, its account) can meet a unique
        # index.
        ballots = self._ballots
        plain = [i for i in indexes if ballots[i].cpf_hash is None]
        checked = [i for i in indexes if ballots[i].cpf_hash is not None]
        try:
            _insert_many(
                self._connection,
                VOTES,
                VOTE_COLUMNS,
                [
                    _vote_row(ballots[i])
                    for i in sorted(plain, key=lambda i: ballots[i].vote_id.int)
                ],
            )
        except sqlite3.IntegrityError as exc:  # the driver's own cursor
            raise UnexpectedReplay("a vote_id of the batch is stored already") from exc
        not_inserted: set[int] = set()
        if checked:
            statement = (
                upsert(self._connection, VOTES)
                .on_conflict_do_nothing()
                .returning(VOTES.c.paredao_id, VOTES.c.vote_id)
            )
            rows = [dict(zip(VOTE_COLUMNS, _vote_row(ballots[i]), strict=True)) for i in checked]
            result = self._connection.execute(statement, rows)
            inserted = {(r.paredao_id, r.vote_id) for r in result}
            not_inserted = {
                i for i in checked if (ballots[i].paredao_id, ballots[i].vote_id) not in inserted
            }
        counts = Counter(
            (b.paredao_id, b.nominee_id, b.mode.value, hour_of(b.cast_at))
            for i in indexes
            if i not in not_inserted
            for b in (ballots[i],)
        )
        if counts:
            _insert_many(
                self._connection,
                TALLY,
                ("paredao_id", "nominee_id", "mode", "hour", "shard", "votes"),
                [(p, n, m, hour, 0, c) for (p, n, m, hour), c in sorted(counts.items())],
                "ON CONFLICT (paredao_id, nominee_id, mode, hour, shard)"
                " DO UPDATE SET votes = votes + excluded.votes",
            )
        return not_inserted

    def cpfs_voted(self, indexes: Sequence[int]) -> set[int]:
        return {i for i in indexes if cpf_voted(self._connection, self._ballots[i])}

    def unico_votes_of_voters(self, indexes: Sequence[int]) -> dict[Voter, int]:
        # The only writer: nothing to lock. The index on votos únicos by voter answers it.
        voters: dict[int, set[str]] = {}
        for i in indexes:
            voters.setdefault(self._ballots[i].paredao_id, set()).add(self._ballots[i].voter_id)
        counts: dict[Voter, int] = {}
        for paredao_id, voter_ids in sorted(voters.items()):
            ids = json.dumps(sorted(voter_ids))
            rows = self._cursor().execute(
                "SELECT voter_id, count(*) FROM votes WHERE paredao_id = ? AND mode = 'unico'"
                " AND voter_id IN (SELECT value FROM json_each(?)) GROUP BY voter_id",
                (paredao_id, ids),
            )
            counts.update({(paredao_id, v): n for v, n in rows})
        return counts

    def torcida_votes_since(self, paredao_id: int, since: datetime) -> list[tuple[str, datetime]]:
        return torcida_votes_since(self._connection, paredao_id, since)


def _vote_row(b: Ballot) -> tuple[Any, ...]:
    return (b.paredao_id, b.vote_id, b.nominee_id, b.mode.value, b.voter_id, b.cpf_hash, b.cast_at)


def _insert_many(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    suffix: str = "",
) -> None:
    """A plain driver-level INSERT … executemany. Values pass through each column type's
    bind processor, so they are stored exactly as the ORM would store them."""
    if not rows:
        return
    processors = [table.c[name].type.bind_processor(connection.dialect) for name in columns]
    # Names come from our own table definitions; every value is a bound parameter.
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "  # noqa: S608
        f"VALUES ({', '.join(['?'] * len(columns))}) {suffix}"
    )
    # Convert each distinct value once: a batch shares few paredões, nominees and modes.
    converted: list[dict[Any, Any]] = [{} for _ in columns]
    prepared = []
    for row in rows:
        values = list(row)
        for i, process in enumerate(processors):
            value = values[i]
            if process is None or value is None:
                continue
            known = converted[i]
            if value not in known:
                known[value] = process(value)
            values[i] = known[value]
        prepared.append(tuple(values))
    connection.connection.cursor().executemany(sql, prepared)
