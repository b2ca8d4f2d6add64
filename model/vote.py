"""Votes, the tally they roll up into, and the records that keep voting honest."""

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    SmallInteger,
    String,
    Uuid,
    text,
)
from sqlmodel import Column, Field, SQLModel

from model.base import UTCDateTime, enum_type

UNICO = "mode = 'unico'"
# The votes the account index binds: votos únicos cast under a jwt subject's voter_id.
UNICO_OF_AN_ACCOUNT = "mode = 'unico' AND voter_id LIKE 'sub:%'"


class VoteMode(StrEnum):
    unico = "unico"  # one vote per CPF per paredão
    torcida = "torcida"  # unlimited, at most TORCIDA_LIMIT a minute per voter (model.ratelimit)


class VoteStatus(StrEnum):
    queued = "queued"  # in the durable log, not decided yet (the Kafka path)
    counted = "counted"  # stored and in the tally
    refused = "refused"  # decided against, with a reason


class Vote(SQLModel, table=True):
    """One accepted vote. Keyed by paredão first, so a round can be archived or dropped whole."""

    __tablename__ = "votes"
    __table_args__ = (
        # Every vote names a nominee of its own paredão: checked for the whole batch by the
        # transaction that stores it (`db.votes.decide_batch`), not by a foreign key, which
        # PostgreSQL checks with one lookup per row (migration 0009).
        # Voto único: one per CPF per paredão, enforced by the database, race-free.
        Index(
            "uq_votes_paredao_id_cpf_hash",
            "paredao_id",
            "cpf_hash",
            unique=True,
            sqlite_where=text("cpf_hash IS NOT NULL"),
            postgresql_where=text("cpf_hash IS NOT NULL"),
        ),
        # The votes of the last minute, read when the consumer rebuilds its torcida windows.
        Index("ix_votes_paredao_id_accepted_at", "paredao_id", "accepted_at"),
        # jwt mode: one voto único per account per paredão, whatever CPF it sends (an
        # account's voter_id is "sub:…", services/identity.py).
        Index(
            "uq_votes_paredao_id_voter_id_unico",
            "paredao_id",
            "voter_id",
            unique=True,
            sqlite_where=text(UNICO_OF_AN_ACCOUNT),
            postgresql_where=text(UNICO_OF_AN_ACCOUNT),
        ),
        # Anonymous mode: the votos únicos a device (voter_id) cast in a paredão, counted by
        # each batch that holds one of its votos únicos (PAREDAO_UNICO_PER_DEVICE). The
        # account index above cannot serve: its predicate leaves the device ids out.
        Index(
            "ix_votes_paredao_id_voter_id_unico",
            "paredao_id",
            "voter_id",
            sqlite_where=text(UNICO),
            postgresql_where=text(UNICO),
        ),
    )

    paredao_id: int = Field(sa_column=Column(Integer, primary_key=True))
    # A UUIDv7 (time-ordered, so inserts append to the index) or the client's idempotency key.
    vote_id: uuid.UUID = Field(sa_column=Column(Uuid, primary_key=True))
    nominee_id: int = Field(sa_column=Column(Integer, nullable=False))
    mode: VoteMode = Field(sa_column=Column(enum_type(VoteMode), nullable=False))
    voter_id: str = Field(sa_column=Column(String(64), nullable=False))
    # HMAC of the CPF (voto único only); the CPF itself is never stored.
    cpf_hash: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    accepted_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class VoteTally(SQLModel, table=True):
    """Votes per paredão, nominee, mode and UTC hour, kept in the same transaction as the votes.

    Results and stats read this rollup, so they cost O(nominees × hours × shards), not
    O(votes).
    """

    __tablename__ = "vote_tally"

    paredao_id: int = Field(sa_column=Column(Integer, primary_key=True))
    nominee_id: int = Field(sa_column=Column(Integer, primary_key=True))
    mode: VoteMode = Field(sa_column=Column(enum_type(VoteMode), primary_key=True))
    hour: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
    # Concurrent writers (PostgreSQL) add to different shards of a count, so that they do
    # not queue on one hot row; readers sum the shards.
    shard: int = Field(
        default=0, sa_column=Column(SmallInteger, primary_key=True, autoincrement=False)
    )
    votes: int = Field(sa_column=Column(Integer, nullable=False))


class TorcidaBudget(SQLModel, table=True):
    """The times of a voter's latest voto-da-torcida votes in a paredão (the rate-limit window).

    Kept in the database and updated in the vote's own transaction, so the limit is exact
    across every worker and replica, and only stored votes spend it.
    """

    __tablename__ = "torcida_budgets"

    paredao_id: int = Field(sa_column=Column(Integer, primary_key=True))
    voter_id: str = Field(sa_column=Column(String(64), primary_key=True))
    # Comma-separated epoch milliseconds, at most the limit's count of them.
    recent: str = Field(sa_column=Column(String(200), nullable=False))


class SpentCaptcha(SQLModel, table=True):
    """A captcha challenge that bought a vote; the primary key makes each one spendable once."""

    __tablename__ = "spent_captchas"

    challenge: str = Field(sa_column=Column(String(128), primary_key=True))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class VoteRefusal(SQLModel, table=True):
    """A vote the Kafka consumer decided against, with the reason (the direct path answers
    refusals over HTTP and stores nothing). The voter reads it with the vote's status."""

    __tablename__ = "vote_refusals"

    paredao_id: int = Field(sa_column=Column(Integer, primary_key=True))
    vote_id: uuid.UUID = Field(sa_column=Column(Uuid, primary_key=True))
    nominee_id: int = Field(sa_column=Column(Integer, nullable=False))
    mode: VoteMode = Field(sa_column=Column(enum_type(VoteMode), nullable=False))
    reason: str = Field(sa_column=Column(String(32), nullable=False))
    detail: str = Field(sa_column=Column(String(300), nullable=False))
    cast_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ConsumerOffset(SQLModel, table=True):
    """The next offset to read of each partition of the votes topic, written in the same
    transaction as the votes read before it: the consumer seeks here on assignment, so a
    record is stored exactly once whatever crashes or rebalances in between."""

    __tablename__ = "consumer_offsets"

    topic: str = Field(sa_column=Column(String(200), primary_key=True))
    partition: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    next_offset: int = Field(sa_column=Column(BigInteger, nullable=False))


class ClosingMark(SQLModel, table=True):
    """A paredão's close marker, read by the consumer in one partition of the votes topic.

    On the Kafka path a close writes a marker into every partition after the paredão turned
    `closing`; everything logged before it in that partition was cast before the close. When
    every partition's marker is read, every vote logged before the close is decided and the
    result is frozen."""

    __tablename__ = "closing_marks"

    paredao_id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    partition: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
