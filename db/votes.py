"""Storing a batch of votes in one transaction, and deciding each vote's fate inside it.

Everything that decides whether a vote counts (the voting window, replays, the captcha, the
rate limit, one CPF per paredão) is decided here, inside the transaction that stores the
vote, so that an acknowledged vote is always counted and a refused one never is.
"""

import json
import secrets
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import SQLModel

from model.ballot import Accepted, Ballot
from model.errors import (
    AccountAlreadyVoted,
    CaptchaFailed,
    CPFAlreadyVoted,
    DomainError,
    NotFound,
    RateLimited,
    VoteIdReused,
    VotingNotOpen,
)
from model.paredao import Paredao, ParedaoStatus, status_at_cast
from model.ratelimit import admit
from model.vote import SpentCaptcha, TorcidaBudget, Vote, VoteMode, VoteRefusal, VoteTally

Outcome = Accepted | DomainError
TALLY_SHARDS = 16

VOTES = SQLModel.metadata.tables[Vote.__tablename__]
TALLY = SQLModel.metadata.tables[VoteTally.__tablename__]
BUDGETS = SQLModel.metadata.tables[TorcidaBudget.__tablename__]
SPENT = SQLModel.metadata.tables[SpentCaptcha.__tablename__]
PAREDOES = SQLModel.metadata.tables[Paredao.__tablename__]


def _sqlite(connection: Connection) -> Any:
    """A cursor of the driver's own connection, in the caller's transaction: on the hot path
    a constant statement run there skips SQLAlchemy's per-statement work (building,
    caching, result processing), which costs more than SQLite's."""
    return connection.connection.cursor()


def upsert(connection: Connection, table: Table) -> sqlite.Insert | postgresql.Insert:
    """The dialect's INSERT, which knows ON CONFLICT (SQLite and PostgreSQL alike)."""
    if connection.dialect.name == "sqlite":
        return sqlite.insert(table)
    return postgresql.insert(table)


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _vote_from_row(row: Any, replay: bool) -> Accepted:
    return Accepted(
        vote_id=row.vote_id,
        paredao_id=row.paredao_id,
        nominee_id=row.nominee_id,
        mode=VoteMode(row.mode),
        accepted_at=row.accepted_at,
        replay=replay,
    )


def _stored_votes(connection: Connection, ballots: Iterable[Ballot]) -> dict[Any, Any]:
    """The stored votes with the same (paredão, vote_id) as any of `ballots`."""
    by_paredao: dict[int, list[Any]] = defaultdict(list)
    for b in ballots:
        by_paredao[b.paredao_id].append(b.vote_id)
    stored: dict[Any, Any] = {}
    for paredao_id, vote_ids in by_paredao.items():
        if connection.dialect.name == "postgresql":
            # One constant statement with an array: psycopg prepares it once, instead of
            # parsing a new IN (…) list of a thousand parameters in Python every batch.
            rows = connection.exec_driver_sql(
                f"SELECT {', '.join(VOTE_COLUMNS)} FROM votes"  # noqa: S608
                " WHERE paredao_id = %s AND vote_id = ANY(%s)",
                (paredao_id, vote_ids),
            )
        else:
            # Almost always none is stored: ask which with one constant statement on the
            # driver's cursor, and read the (few) rows found through SQLAlchemy's types.
            found = (
                _sqlite(connection)
                .execute(
                    "SELECT vote_id FROM votes WHERE paredao_id = ?"
                    " AND vote_id IN (SELECT value FROM json_each(?))",
                    (paredao_id, json.dumps([v.hex for v in vote_ids])),
                )
                .fetchall()
            )
            if not found:
                continue
            rows = connection.execute(
                select(VOTES).where(
                    VOTES.c.paredao_id == paredao_id,
                    VOTES.c.vote_id.in_([uuid.UUID(hex=h) for (h,) in found]),
                )
            )
        stored.update({(r.paredao_id, r.vote_id): r for r in rows})
    return stored


def _replay_outcome(ballot: Ballot, row: Any) -> Outcome:
    same = (row.nominee_id, row.mode, row.voter_id, row.cpf_hash) == (
        ballot.nominee_id,
        ballot.mode,
        ballot.voter_id,
        ballot.cpf_hash,
    )
    if same:
        return _vote_from_row(row, replay=True)
    return _reused(ballot)


def _reused(ballot: Ballot) -> VoteIdReused:
    return VoteIdReused(f"vote_id {ballot.vote_id} was already used for a different vote")


def _schedules(connection: Connection, paredao_ids: set[int]) -> dict[int, Any]:
    """Each paredão's stored status and schedule; on PostgreSQL the rows are share-locked, so
    a concurrent close waits for this batch and counts it (or this batch sees it closed)."""
    statement = select(
        PAREDOES.c.id, PAREDOES.c.status, PAREDOES.c.opens_at, PAREDOES.c.closes_at
    ).where(PAREDOES.c.id.in_(paredao_ids))
    if connection.dialect.name == "postgresql":
        statement = statement.with_for_update(read=True)
    return {row.id: row for row in connection.execute(statement)}


def _window_at(schedule: Any, cast_at: datetime) -> ParedaoStatus:
    """The paredão's status for a vote cast at `cast_at` (a stored close always wins)."""
    return status_at_cast(
        ParedaoStatus(schedule.status), schedule.opens_at, schedule.closes_at, cast_at
    )


def _spend_captchas(connection: Connection, ballots: Sequence[Ballot]) -> set[int]:
    """Record each ballot's captcha as spent; the indexes of ballots whose captcha was not
    spent by them (already spent, or spent earlier in this batch)."""
    first: dict[str, int] = {}
    refused: set[int] = set()
    for i, b in enumerate(ballots):
        if b.captcha is None:
            continue
        if b.captcha.challenge in first:
            refused.add(i)
        else:
            first[b.captcha.challenge] = i
    if not first:
        return refused
    rows = [
        {"challenge": c, "expires_at": ballots[i].captcha.expires_at}  # type: ignore[union-attr]
        for c, i in sorted(first.items())
    ]
    statement = upsert(connection, SPENT).on_conflict_do_nothing().returning(SPENT.c.challenge)
    spent = set(connection.execute(statement, rows).scalars())
    refused.update(i for c, i in first.items() if c not in spent)
    return refused


def _rate_limit(connection: Connection, ballots: Sequence[Ballot]) -> dict[int, int]:
    """Apply the voto-da-torcida limit in order, each vote at the time it was cast; the
    indexes of refused ballots → Retry-After."""
    keys = sorted({(b.paredao_id, b.voter_id) for b in ballots if b.mode == VoteMode.torcida})
    if not keys:
        return {}
    recent: dict[tuple[int, str], tuple[int, ...]] = dict.fromkeys(keys, ())
    for paredao_id in sorted({p for p, _ in keys}):
        voters = [v for p, v in keys if p == paredao_id]
        if connection.dialect.name == "postgresql":
            # Writers run concurrently there: make every voter's row exist, then lock the
            # rows in one order (no deadlocks). SQLite runs one writer at a time, so it needs
            # neither. Arrays keep both statements constant (prepared once by psycopg).
            connection.exec_driver_sql(
                "INSERT INTO torcida_budgets (paredao_id, voter_id, recent)"
                " SELECT %s, v, '' FROM unnest(%s::varchar[]) AS t(v) ON CONFLICT DO NOTHING",
                (paredao_id, voters),
            )
            rows = connection.exec_driver_sql(
                "SELECT voter_id, recent FROM torcida_budgets"
                " WHERE paredao_id = %s AND voter_id = ANY(%s) ORDER BY voter_id FOR UPDATE",
                (paredao_id, voters),
            )
        else:
            rows = _sqlite(connection).execute(
                "SELECT voter_id, recent FROM torcida_budgets WHERE paredao_id = ?"
                " AND voter_id IN (SELECT value FROM json_each(?))",
                (paredao_id, json.dumps(voters)),
            )
        for voter_id, times in rows:
            recent[(paredao_id, voter_id)] = tuple(int(t) for t in times.split(",") if t)

    refused: dict[int, int] = {}
    changed: set[tuple[int, str]] = set()
    for i, b in enumerate(ballots):
        if b.mode != VoteMode.torcida:
            continue
        key = (b.paredao_id, b.voter_id)
        decision = admit(recent[key], _epoch_ms(b.cast_at))
        if decision.allowed:
            recent[key] = decision.recent
            changed.add(key)
        else:
            refused[i] = decision.retry_after_s
    if changed:
        budgets = [(p, v, ",".join(map(str, recent[(p, v)]))) for p, v in sorted(changed)]
        if connection.dialect.name == "postgresql":
            # The rows exist and are locked (above): one constant statement with arrays
            # instead of a round trip per voter.
            connection.exec_driver_sql(
                "UPDATE torcida_budgets AS b SET recent = t.r FROM unnest("
                "%s::integer[], %s::varchar[], %s::varchar[]) AS t(p, v, r)"
                " WHERE b.paredao_id = t.p AND b.voter_id = t.v",
                tuple(list(column) for column in zip(*budgets, strict=True)),
            )
        else:
            conflict = "ON CONFLICT (paredao_id, voter_id) DO UPDATE SET recent = excluded.recent"
            columns = ("paredao_id", "voter_id", "recent")
            _insert_many(connection, BUDGETS, columns, budgets, conflict)
    return refused


def _insert_many(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    suffix: str = "",
) -> None:
    """A plain driver-level INSERT … executemany: on the hot path, SQLAlchemy's per-row
    statement machinery costs more than the database. Values pass through each column
    type's bind processor, so they are stored exactly as the ORM would store them."""
    dialect = connection.dialect
    processors = [table.c[name].type.bind_processor(dialect) for name in columns]
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    # Names come from our own table definitions; every value is a bound parameter.
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "  # noqa: S608
        f"VALUES ({', '.join([marker] * len(columns))}) {suffix}"
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
    if dialect.name == "sqlite":
        _sqlite(connection).executemany(sql, prepared)
    else:
        connection.exec_driver_sql(sql, prepared)


VOTE_COLUMNS = (
    "paredao_id",
    "vote_id",
    "nominee_id",
    "mode",
    "voter_id",
    "cpf_hash",
    "accepted_at",
)


def _insert_votes(connection: Connection, ballots: Sequence[Ballot]) -> set[Any]:
    """Insert the votes; the (paredão, vote_id) of the rows actually inserted.

    A voto da torcida can conflict with nothing when its vote_id was made here (a fresh
    UUIDv7), or on SQLite, where this transaction is the only writer and replays were
    already answered: those go in with a plain INSERT. The others may meet a unique index
    and go in with ON CONFLICT DO NOTHING … RETURNING, which tells which rows went in.
    """
    sole_writer = connection.dialect.name == "sqlite"
    plain = [b for b in ballots if b.cpf_hash is None and (sole_writer or not b.client_vote_id)]
    if plain:
        _insert_many(
            connection,
            VOTES,
            VOTE_COLUMNS,
            [
                (b.paredao_id, b.vote_id, b.nominee_id, b.mode.value, b.voter_id, None, b.cast_at)
                for b in sorted(plain, key=lambda b: b.vote_id.int)
            ],
        )
    inserted = {(b.paredao_id, b.vote_id) for b in plain}
    checked = [b for b in ballots if (b.paredao_id, b.vote_id) not in inserted]
    if not checked:
        return inserted
    checked.sort(key=lambda b: (b.paredao_id, b.cpf_hash or "", b.vote_id.int))
    if connection.dialect.name == "postgresql":
        # Arrays unnested into rows: one constant, preparable statement for the batch.
        result = connection.exec_driver_sql(
            "INSERT INTO votes (paredao_id, vote_id, nominee_id, mode, voter_id, cpf_hash,"
            " accepted_at) SELECT p, v, n, m, w, c, a FROM unnest("
            "%s::integer[], %s::uuid[], %s::integer[], %s::varchar[], %s::varchar[],"
            " %s::varchar[], %s::timestamptz[]) AS t(p, v, n, m, w, c, a)"
            " ON CONFLICT DO NOTHING RETURNING paredao_id, vote_id",
            (
                [b.paredao_id for b in checked],
                [b.vote_id for b in checked],
                [b.nominee_id for b in checked],
                [b.mode.value for b in checked],
                [b.voter_id for b in checked],
                [b.cpf_hash for b in checked],
                [b.cast_at for b in checked],
            ),
        )
        return inserted | {(r.paredao_id, r.vote_id) for r in result}
    rows = [
        {
            "paredao_id": b.paredao_id,
            "vote_id": b.vote_id,
            "nominee_id": b.nominee_id,
            "mode": b.mode.value,
            "voter_id": b.voter_id,
            "cpf_hash": b.cpf_hash,
            "accepted_at": b.cast_at,
        }
        for b in checked
    ]
    statement = (
        upsert(connection, VOTES)
        .on_conflict_do_nothing()
        .returning(VOTES.c.paredao_id, VOTES.c.vote_id)
    )
    return inserted | {(r.paredao_id, r.vote_id) for r in connection.execute(statement, rows)}


def _add_to_tally(connection: Connection, ballots: Iterable[Ballot]) -> None:
    """Count each stored vote in the hour (UTC) it was cast, in one shard of the count.

    On PostgreSQL, writers commit concurrently, and each batch holds the tally rows it
    updated until its commit: a shard picked at random per batch lets concurrent batches
    update different rows. SQLite has one writer at a time: one shard."""
    counts = Counter(
        (b.paredao_id, b.nominee_id, b.mode.value, hour_of(b.cast_at)) for b in ballots
    )
    if not counts:
        return
    if connection.dialect.name == "sqlite":  # one writer, one shard
        _insert_many(
            connection,
            TALLY,
            ("paredao_id", "nominee_id", "mode", "hour", "shard", "votes"),
            [(p, n, m, hour, 0, c) for (p, n, m, hour), c in sorted(counts.items())],
            "ON CONFLICT (paredao_id, nominee_id, mode, hour, shard)"
            " DO UPDATE SET votes = votes + excluded.votes",
        )
        return
    shard = secrets.randbelow(TALLY_SHARDS)
    statement = upsert(connection, TALLY)
    statement = statement.on_conflict_do_update(
        index_elements=[
            TALLY.c.paredao_id,
            TALLY.c.nominee_id,
            TALLY.c.mode,
            TALLY.c.hour,
            TALLY.c.shard,
        ],
        set_={"votes": TALLY.c.votes + statement.excluded.votes},
    )
    connection.execute(
        statement,
        [
            {"paredao_id": p, "nominee_id": n, "mode": m, "hour": hour, "shard": shard, "votes": c}
            for (p, n, m, hour), c in sorted(counts.items())
        ],
    )


def _unico_conflict(connection: Connection, ballot: Ballot) -> DomainError:
    """Why a voto único was not inserted: its CPF voted in this paredão, or (jwt mode) its
    account did, with another CPF. One read, for refused votes only."""
    cpf_voted = connection.execute(
        select(VOTES.c.vote_id)
        .where(VOTES.c.paredao_id == ballot.paredao_id, VOTES.c.cpf_hash == ballot.cpf_hash)
        .limit(1)
    ).first()
    if cpf_voted is not None:
        return CPFAlreadyVoted(f"this CPF already voted in paredão {ballot.paredao_id}")
    return AccountAlreadyVoted(
        f"this account already cast its voto único in paredão {ballot.paredao_id}"
    )


def write_batch(connection: Connection, ballots: Sequence[Ballot]) -> list[Outcome]:
    """Decide and store a batch of ballots inside the caller's transaction.

    Each ballot is judged at the moment it was cast (`cast_at`: the voting window, the rate
    limit, the hour it counts in), so a vote's fate does not depend on how long it waited.

    Returns one outcome per ballot, in order: `Accepted` (stored now, or a replay of a stored
    vote) or the `DomainError` that refuses it. Nothing here commits.
    """
    outcomes: list[Outcome | None] = [None] * len(ballots)

    # The same vote_id twice in one batch: the later ones answer like the first.
    first_of: dict[tuple[int, Any], int] = {}
    echoes: dict[int, int] = {}
    for i, b in enumerate(ballots):
        key = (b.paredao_id, b.vote_id)
        if key in first_of:
            echoes[i] = first_of[key]
        else:
            first_of[key] = i

    # Replays of stored votes are answered as they were, even after voting closed.
    stored = _stored_votes(connection, (b for b in ballots if b.client_vote_id))
    for i, b in enumerate(ballots):
        row = stored.get((b.paredao_id, b.vote_id))
        if row is not None and i not in echoes:
            outcomes[i] = _replay_outcome(b, row)

    schedules = _schedules(connection, {b.paredao_id for b in ballots})
    for i, b in enumerate(ballots):
        if outcomes[i] is not None or i in echoes:
            continue
        schedule = schedules.get(b.paredao_id)
        if schedule is None:
            outcomes[i] = NotFound(f"paredão {b.paredao_id} does not exist")
        elif (window := _window_at(schedule, b.cast_at)) != ParedaoStatus.open:
            outcomes[i] = VotingNotOpen(f"voting in paredão {b.paredao_id} is {window}, not open")

    def pending() -> list[int]:
        return [i for i in range(len(ballots)) if outcomes[i] is None and i not in echoes]

    todo = pending()
    for i in _spend_captchas(connection, [ballots[i] for i in todo]):
        outcomes[todo[i]] = CaptchaFailed("this captcha was already used: solve a new one")

    todo = pending()
    for i, wait in _rate_limit(connection, [ballots[i] for i in todo]).items():
        outcomes[todo[i]] = RateLimited(
            f"at most 10 votos da torcida a minute: try again in {wait} s", retry_after_s=wait
        )

    todo = pending()
    inserted = _insert_votes(connection, [ballots[i] for i in todo]) if todo else set()
    for i in todo:
        b = ballots[i]
        key = (b.paredao_id, b.vote_id)
        if key in inserted:
            outcomes[i] = Accepted(b.vote_id, b.paredao_id, b.nominee_id, b.mode, b.cast_at)
            continue
        # Not inserted: another writer stored the same vote_id since we looked (PostgreSQL),
        # or, for a voto único, this CPF already voted.
        row = _stored_votes(connection, [b]).get(key) if b.client_vote_id else None
        if row is not None:
            outcomes[i] = _replay_outcome(b, row)
        elif b.mode == VoteMode.unico:
            outcomes[i] = _unico_conflict(connection, b)
        else:
            raise RuntimeError(f"vote {b.vote_id} was neither stored nor in conflict")
    # Only the rows inserted now count; echoes of them in this batch are not in `todo`.
    counted = [ballots[i] for i in todo if (ballots[i].paredao_id, ballots[i].vote_id) in inserted]
    _add_to_tally(connection, counted)

    for i, first in echoes.items():
        original = outcomes[first]
        if not ballots[i].same_vote_as(ballots[first]):
            outcomes[i] = _reused(ballots[i])
        elif isinstance(original, Accepted):
            outcomes[i] = Accepted(**{**original.__dict__, "replay": True})
        else:
            outcomes[i] = original
    decided = [o for o in outcomes if o is not None]
    assert len(decided) == len(ballots), "every ballot gets an outcome"
    return decided


def find_vote(connection: Connection, paredao_id: int, vote_id: Any) -> Any | None:
    """The stored vote (paredao_id, vote_id, nominee_id, mode, accepted_at), or None."""
    return connection.execute(
        select(
            VOTES.c.paredao_id,
            VOTES.c.vote_id,
            VOTES.c.nominee_id,
            VOTES.c.mode,
            VOTES.c.accepted_at,
        ).where(VOTES.c.paredao_id == paredao_id, VOTES.c.vote_id == vote_id)
    ).first()


def find_refusal(connection: Connection, paredao_id: int, vote_id: Any) -> Any | None:
    """The consumer's refusal of a vote (nominee_id, mode, reason, detail, cast_at), or None."""
    refusals = SQLModel.metadata.tables[VoteRefusal.__tablename__]
    return connection.execute(
        select(refusals).where(refusals.c.paredao_id == paredao_id, refusals.c.vote_id == vote_id)
    ).first()
