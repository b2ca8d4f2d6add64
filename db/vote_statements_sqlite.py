"""A vote batch's statements on SQLite: one writer at a time, so no locks, one tally shard,
and constant statements on the driver's cursor (on the hot path SQLAlchemy's per-statement
work costs more than SQLite's)."""

import functools
import json
import sqlite3
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Dialect, select

from db.vote_statements import (
    PAREDOES,
    VOTES,
    Schedule,
    UnexpectedReplay,
    Voter,
    cpf_voted,
    hour_of,
    torcida_votes_since,
)
from model.ballot import Ballot

INSERT_VOTES = (
    "INSERT INTO votes (paredao_id, vote_id, nominee_id, mode, voter_id, cpf_hash, accepted_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
ADD_TALLY = (
    "INSERT INTO vote_tally (paredao_id, nominee_id, mode, hour, shard, votes)"
    " VALUES (?, ?, ?, ?, 0, ?) ON CONFLICT (paredao_id, nominee_id, mode, hour, shard)"
    " DO UPDATE SET votes = votes + excluded.votes"
)
SAVE_BUDGETS = (
    "INSERT INTO torcida_budgets (paredao_id, voter_id, recent) VALUES (?, ?, ?)"
    " ON CONFLICT (paredao_id, voter_id) DO UPDATE SET recent = excluded.recent"
)
# Constant SQL on the driver's cursor: through SQLAlchemy (an expanding IN, its compiled-
# statement cache) two such small reads cost ~1 ms of CPU a batch.
READ_PAREDOES = (
    "SELECT p.id, p.status, p.opens_at, p.closes_at, n.candidate_id FROM paredoes p"
    " LEFT JOIN paredao_nominees n ON n.paredao_id = p.id"
    " WHERE p.id IN (SELECT value FROM json_each(?))"
)
# Votos únicos, which may meet a unique index: those inserted, in one statement.
INSERT_CHECKED = (
    "INSERT INTO votes (paredao_id, vote_id, nominee_id, mode, voter_id, cpf_hash, accepted_at)"
    " SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5,"
    " value ->> 6 FROM json_each(?) WHERE true ON CONFLICT DO NOTHING"
    " RETURNING paredao_id, vote_id"
)
# The challenges not spent before, in one statement (the driver's executemany returns no
# rows); WHERE true tells SQLite's parser the ON CONFLICT is the INSERT's.
SPEND_CAPTCHAS = (
    "INSERT INTO spent_captchas (challenge, expires_at)"
    " SELECT value ->> 0, value ->> 1 FROM json_each(?) WHERE true"
    " ON CONFLICT DO NOTHING RETURNING challenge"
)
_VOTE_ID = itemgetter(1)
Paredoes = tuple[dict[int, Schedule], dict[int, frozenset[int]]]  # schedules, nominees


@functools.lru_cache(maxsize=8)
def _time_result(dialect: Dialect) -> Callable[[Any], Any]:
    """How the dialect reads a stored time back (`UTCDateTime`'s result processor)."""
    when = PAREDOES.c.opens_at.type.dialect_impl(dialect).result_processor(dialect, None)
    assert when is not None, "SQLite keeps times as text"
    return when


def _json_of_ints(values: Iterable[int]) -> str:
    return f"[{','.join(map(str, values))}]"


def _json_of_hexes(values: Sequence[str]) -> str:
    """`json.dumps(values)`, quicker: hex digits need no escaping in a JSON string."""
    return '["' + '","'.join(values) + '"]' if values else "[]"


def _utc(moment: datetime) -> datetime:
    """`moment` in UTC (`UTCDateTime` refuses a naive time)."""
    if moment.tzinfo is not UTC:
        if moment.tzinfo is None:
            raise ValueError("naive datetime given where a timezone-aware one is required")
        moment = moment.astimezone(UTC)
    return moment


def stored_time(moment: datetime) -> str:
    """The text a time is stored as by these statements: in UTC, without its zone, in ISO
    8601 with a space, the microseconds left out when 0 (what `UTCDateTime` binds, written by
    the driver's own adapter for a `datetime`, as the votos da torcida and the tally's hours
    have always been stored)."""
    return _utc(moment).isoformat(" ")[:-6]  # without "+00:00"


def bound_time(moment: datetime) -> str:
    """The text SQLAlchemy's SQLite `DATETIME` stores a time as (its microseconds always
    written), as the votos únicos and the spent captchas have always been stored."""
    return _utc(moment).isoformat(" ", "microseconds")[:-6]


def stored_time_in(seconds: dict[tuple[int, ...], str], moment: datetime) -> str:
    """`stored_time(moment)`, the text of its whole second kept in `seconds` (a batch's votes
    share a few seconds: ~1.15 -> 0.65 µs a time)."""
    if moment.tzinfo is not UTC:
        return stored_time(moment)
    second = (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)
    whole = seconds.get(second)
    if whole is None:
        whole = seconds[second] = stored_time(moment.replace(microsecond=0))
    microsecond = moment.microsecond
    return f"{whole}.{microsecond:06d}" if microsecond else whole


def stored_hour(moment: datetime, stored: str) -> str:
    """`stored_time(hour_of(moment))`, given `stored_time(moment)`: of a time in UTC, the
    first 13 characters are its hour's."""
    if moment.tzinfo is UTC:
        return stored[:13] + ":00:00"
    return stored_time(hour_of(moment))


class SQLiteVoteStatements:
    def __init__(self, connection: Connection, ballots: Sequence[Ballot]) -> None:
        self._connection = connection
        self._ballots = ballots
        self._vote_ids: list[str] | None = None
        self._paredoes_read: tuple[set[int], Paredoes] | None = None
        self._driver_cursor: Any = None

    def _cursor(self) -> Any:
        """A cursor of the driver's own connection, in the caller's transaction: one a batch,
        each statement's rows read before the next is run."""
        if self._driver_cursor is None:
            self._driver_cursor = self._connection.connection.cursor()
        return self._driver_cursor

    def _hexes(self) -> list[str]:
        """Each ballot's vote_id as stored (`uuid.UUID.hex`), worked out once a batch."""
        if self._vote_ids is None:
            self._vote_ids = ["%032x" % b.vote_id.int for b in self._ballots]  # noqa: UP031
        return self._vote_ids

    def stored_votes(self, indexes: Sequence[int]) -> dict[int, Any]:
        by_paredao: dict[int, list[int]] = {}
        for i in indexes:
            by_paredao.setdefault(self._ballots[i].paredao_id, []).append(i)
        stored: dict[int, Any] = {}
        for paredao_id, wanted in by_paredao.items():
            # Almost always none is stored: ask which with one constant statement, and read
            # the (few) rows found through SQLAlchemy's types.
            hexes = self._hexes()
            ids = _json_of_hexes([hexes[i] for i in wanted])
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
        return self._paredoes(paredao_ids)[0]

    def nominees(self, paredao_ids: set[int]) -> dict[int, frozenset[int]]:
        return self._paredoes(paredao_ids)[1]

    def _paredoes(self, paredao_ids: set[int]) -> Paredoes:
        """The paredões' schedules and nominees, read together by one statement (the batch
        asks for both, of the same paredões)."""
        if self._paredoes_read is not None and self._paredoes_read[0] == paredao_ids:
            return self._paredoes_read[1]
        when = _time_result(self._connection.dialect)
        schedules: dict[int, Schedule] = {}
        found: dict[int, set[int]] = {p: set() for p in paredao_ids}
        rows = self._cursor().execute(READ_PAREDOES, (_json_of_ints(sorted(paredao_ids)),))
        for paredao_id, status, opens_at, closes_at, candidate_id in rows:
            if paredao_id not in schedules:
                schedules[paredao_id] = Schedule(
                    paredao_id, status, when(opens_at), when(closes_at)
                )
            if candidate_id is not None:
                found[paredao_id].add(candidate_id)
        read = schedules, {p: frozenset(c) for p, c in found.items()}
        self._paredoes_read = (set(paredao_ids), read)
        return read

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
            (c, bound_time(self._ballots[i].captcha.expires_at))  # type: ignore[union-attr]
            for c, i in sorted(first.items())
        ]
        spent = {c for (c,) in self._cursor().execute(SPEND_CAPTCHAS, (json.dumps(rows),))}
        refused.update(i for c, i in first.items() if c not in spent)
        return refused

    def torcida_budgets(self, voters: Sequence[Voter]) -> dict[Voter, str]:
        by_paredao: dict[int, list[str]] = {}
        for paredao_id, voter_id in voters:
            by_paredao.setdefault(paredao_id, []).append(voter_id)
        budgets: dict[Voter, str] = {}
        for paredao_id, voter_ids in sorted(by_paredao.items()):
            rows = self._cursor().execute(
                "SELECT voter_id, recent FROM torcida_budgets WHERE paredao_id = ?"
                " AND voter_id IN (SELECT value FROM json_each(?))",
                (paredao_id, json.dumps(voter_ids)),
            )
            budgets.update({(paredao_id, v): recent for v, recent in rows})
        return budgets

    def save_torcida_budgets(self, budgets: Mapping[Voter, str]) -> None:
        if budgets:
            self._cursor().executemany(
                SAVE_BUDGETS, [(p, v, recent) for (p, v), recent in sorted(budgets.items())]
            )

    def insert_counted(self, indexes: Sequence[int]) -> set[int]:
        # This transaction is the only writer and replays were answered before (a vote_id
        # not looked up is new): only a voto único (its CPF, its account) can meet a unique
        # index.
        ballots = self._ballots
        hexes = self._hexes()
        rows: list[tuple[Any, ...]] = []
        hours: list[tuple[int, int, str, str]] = []  # each vote counted: its tally row's key
        checked: list[int] = []
        seconds: dict[tuple[int, ...], str] = {}
        for i in indexes:
            b = ballots[i]
            if b.cpf_hash is not None:
                checked.append(i)
                continue
            cast, mode = b.cast_at, b.mode._value_
            at = stored_time_in(seconds, cast)
            rows.append((b.paredao_id, hexes[i], b.nominee_id, mode, b.voter_id, None, at))
            hours.append((b.paredao_id, b.nominee_id, mode, stored_hour(cast, at)))
        # In vote_id order (its hex sorts as its number): the votes' index grows at its end.
        rows.sort(key=_VOTE_ID)
        cursor = self._cursor()
        try:
            cursor.executemany(INSERT_VOTES, rows)
        except sqlite3.IntegrityError as exc:  # the driver's own cursor
            raise UnexpectedReplay("a vote_id of the batch is stored already") from exc
        not_inserted: set[int] = set()
        if checked:
            # Their time in the text SQLAlchemy stored them with, as it always has.
            values = [
                (b.paredao_id, hexes[i], b.nominee_id, b.mode._value_, b.voter_id, b.cpf_hash,
                 bound_time(b.cast_at))
                for i in checked
                for b in (ballots[i],)
            ]  # fmt: skip
            inserted = set(cursor.execute(INSERT_CHECKED, (json.dumps(values),)).fetchall())
            not_inserted = {i for i in checked if (ballots[i].paredao_id, hexes[i]) not in inserted}
            hours.extend(
                (b.paredao_id, b.nominee_id, b.mode._value_, stored_time(hour_of(b.cast_at)))
                for i in checked
                if i not in not_inserted
                for b in (ballots[i],)
            )
        if hours:
            cursor.executemany(ADD_TALLY, [(*key, n) for key, n in sorted(Counter(hours).items())])
        return not_inserted

    def cpfs_voted(self, indexes: Sequence[int]) -> set[int]:
        ballots = self._ballots
        voted: set[int] = set()
        by_paredao: dict[int, list[int]] = {}
        for i in indexes:
            if ballots[i].cpf_hash is None:  # as `cpf_voted` asks it: any vote without a CPF
                if cpf_voted(self._connection, ballots[i]):
                    voted.add(i)
            else:
                by_paredao.setdefault(ballots[i].paredao_id, []).append(i)
        for paredao_id, wanted in sorted(by_paredao.items()):
            rows = self._cursor().execute(
                "SELECT DISTINCT cpf_hash FROM votes WHERE paredao_id = ?"
                " AND cpf_hash IS NOT NULL AND cpf_hash IN (SELECT value FROM json_each(?))",
                (paredao_id, json.dumps([ballots[i].cpf_hash for i in wanted])),
            )
            found = {cpf for (cpf,) in rows}
            voted.update(i for i in wanted if ballots[i].cpf_hash in found)
        return voted

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
