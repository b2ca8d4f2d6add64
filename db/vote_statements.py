"""The SQL a vote batch needs, behind one small protocol: `db.votes` decides, and a
`VoteStatements` of the connection's database (`db.vote_statements_sqlite`,
`db.vote_statements_postgres`) reads and writes what the decision needs.

Every method works on the batch's ballots by their index in the batch, inside the caller's
transaction; none commits.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import SQLModel

from model.ballot import Ballot
from model.paredao import Paredao, ParedaoNominee
from model.vote import SpentCaptcha, TorcidaBudget, Vote, VoteTally

VOTES = SQLModel.metadata.tables[Vote.__tablename__]
TALLY = SQLModel.metadata.tables[VoteTally.__tablename__]
BUDGETS = SQLModel.metadata.tables[TorcidaBudget.__tablename__]
SPENT = SQLModel.metadata.tables[SpentCaptcha.__tablename__]
PAREDOES = SQLModel.metadata.tables[Paredao.__tablename__]
NOMINEES = SQLModel.metadata.tables[ParedaoNominee.__tablename__]

# A vote row's columns, in the order every statement writes them.
VOTE_COLUMNS = (
    "paredao_id",
    "vote_id",
    "nominee_id",
    "mode",
    "voter_id",
    "cpf_hash",
    "accepted_at",
)

Voter = tuple[int, str]  # (paredão, voter_id): whose torcida budget


class UnexpectedReplay(Exception):
    """A ballot decided as new (its vote_id not looked up) turned out to be stored already:
    the batch's decisions may be wrong (the replay took a place in a voter's window), so the
    caller rolls the batch back and decides it again with every vote_id looked up."""


def upsert(connection: Connection, table: Table) -> sqlite.Insert | postgresql.Insert:
    """The dialect's INSERT, which knows ON CONFLICT (SQLite and PostgreSQL alike)."""
    if connection.dialect.name == "sqlite":
        return sqlite.insert(table)
    return postgresql.insert(table)


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


class VoteStatements(Protocol):
    """One database's statements for one batch of ballots (made per batch, by `for_batch`)."""

    def stored_votes(self, indexes: Sequence[int]) -> dict[int, Any]:
        """The stored vote (a row with the `VOTE_COLUMNS`) with the same (paredão, vote_id)
        as each of these ballots, for those that have one."""
        ...

    def schedules(self, paredao_ids: set[int]) -> dict[int, Any]:
        """Each paredão's stored status and schedule (id, status, opens_at, closes_at); on a
        database with concurrent writers the rows are share-locked, so a close waits for
        this batch and counts it (or this batch sees it closed)."""
        ...

    def nominees(self, paredao_ids: set[int]) -> dict[int, frozenset[int]]:
        """Each paredão's nominees (they never change once it exists)."""
        ...

    def spend_captchas(self, indexes: Sequence[int]) -> set[int]:
        """Record the captcha of each of these ballots as spent (in order: the first use of
        a challenge spends it); the indexes whose captcha was not spent by them."""
        ...

    def torcida_budgets(self, voters: Sequence[Voter]) -> dict[Voter, str]:
        """The stored budgets (`TorcidaBudget.recent`) of these voters, locked until the
        transaction ends where other writers could change them."""
        ...

    def save_torcida_budgets(self, budgets: Mapping[Voter, str]) -> None: ...

    def insert_counted(self, indexes: Sequence[int]) -> set[int]:
        """Insert these ballots as votes and add the ones inserted to the tally (each in the
        hour it was cast); the indexes NOT inserted: their vote_id, CPF or account met a
        unique index."""
        ...

    def cpfs_voted(self, indexes: Sequence[int]) -> set[int]:
        """Those of these ballots whose CPF has a stored vote in its paredão."""
        ...

    def unico_votes_of_voters(self, indexes: Sequence[int]) -> dict[Voter, int]:
        """How many votos únicos each of these ballots' (paredão, voter_id) has stored (those
        with none are left out); on a database with concurrent writers each voter is locked
        first, until the transaction ends, so that no other batch counts the same votes."""
        ...

    def torcida_votes_since(self, paredao_id: int, since: datetime) -> list[tuple[str, datetime]]:
        """(voter_id, accepted_at) of the paredão's stored votos da torcida cast from `since`."""
        ...


def torcida_votes_since(
    connection: Connection, paredao_id: int, since: datetime
) -> list[tuple[str, datetime]]:
    rows = connection.execute(
        select(VOTES.c.voter_id, VOTES.c.accepted_at).where(
            VOTES.c.paredao_id == paredao_id,
            VOTES.c.mode == "torcida",
            VOTES.c.accepted_at >= since,
        )
    )
    return [(str(v), a) for v, a in rows]


class Schedule(NamedTuple):
    """A paredão's stored status and schedule, as a batch reads it."""

    id: int
    status: str
    opens_at: datetime | None
    closes_at: datetime | None


def nominees_of(connection: Connection, paredao_ids: set[int]) -> dict[int, frozenset[int]]:
    """Each paredão's nominees (a paredão's nominees never change once it exists)."""
    found: dict[int, set[int]] = {p: set() for p in paredao_ids}
    rows = connection.execute(
        select(NOMINEES.c.paredao_id, NOMINEES.c.candidate_id).where(
            NOMINEES.c.paredao_id.in_(sorted(paredao_ids))
        )
    )
    for paredao_id, candidate_id in rows:
        found[paredao_id].add(candidate_id)
    return {p: frozenset(c) for p, c in found.items()}


def cpf_voted(connection: Connection, ballot: Ballot) -> bool:
    return (
        connection.execute(
            select(VOTES.c.vote_id)
            .where(VOTES.c.paredao_id == ballot.paredao_id, VOTES.c.cpf_hash == ballot.cpf_hash)
            .limit(1)
        ).first()
        is not None
    )


def for_batch(connection: Connection, ballots: Sequence[Ballot]) -> VoteStatements:
    """The statements of the connection's database for this batch."""
    if connection.dialect.name == "postgresql":
        from db.vote_statements_postgres import PostgresVoteStatements

        return PostgresVoteStatements(connection, ballots)
    from db.vote_statements_sqlite import SQLiteVoteStatements

    return SQLiteVoteStatements(connection, ballots)
