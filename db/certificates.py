"""Building and storing a frozen paredão's certificate, and reading back what a proof needs.

The tree is built in the freeze's own transaction, so a frozen paredão always has the
certificate of exactly the votes it froze with. It reads every counted vote once, in vote_id
order, a chunk at a time (`model.merkle.ChunkedTree`); a proof later reads one chunk back.
"""

import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime
from itertools import pairwise
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Select, String, cast, delete, select, update
from sqlmodel import Session, SQLModel

from db.vote_statements import PAREDOES, VOTES
from model.certificate import Certificate, leaf_inputs, payload_text
from model.merkle import CHUNK_SIZE, ChunkedTree
from model.paredao import Paredao, ParedaoStatus
from model.results import Outcome
from model.vote import VoteMode

CERTIFICATES = SQLModel.metadata.tables[Certificate.__tablename__]


# (vote_id as lowercase hyphenated text, nominee_id, mode): a counted vote as its leaf reads it.
VoteRow = tuple[str, int, str]


def _leaves_query(paredao_id: int) -> Select[Any]:
    """The counted votes in vote_id order, read as text (no UUID or enum object per row)."""
    return (
        select(cast(VOTES.c.vote_id, String), VOTES.c.nominee_id, cast(VOTES.c.mode, String))
        .where(VOTES.c.paredao_id == paredao_id)
        .order_by(VOTES.c.vote_id)
    )


def _as_text(dialect: str, rows: Sequence[Any]) -> list[VoteRow]:
    """PostgreSQL writes a uuid as the hyphenated text already; SQLite stores 32 hex digits
    (lowercase, as SQLAlchemy writes them), hyphenated here: cheaper than in SQL."""
    if dialect == "postgresql":
        return [(v, n, m) for v, n, m in rows]
    return [(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}", n, m) for h, n, m in rows]


# SQLite: read on the driver's own cursor, in the caller's transaction (SQLAlchemy's work per
# row would cost a third of the certificate).
_SQLITE_VOTES = (
    "SELECT lower(vote_id), nominee_id, mode FROM votes WHERE paredao_id = ? ORDER BY vote_id"
)


def _vote_chunks(connection: Connection, paredao_id: int) -> Iterator[list[VoteRow]]:
    """Every counted vote of the paredão in vote_id order, `CHUNK_SIZE` at a time."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        cursor = connection.connection.cursor()
        try:
            cursor.execute(_SQLITE_VOTES, (paredao_id,))
            while rows := cursor.fetchmany(CHUNK_SIZE):
                yield _as_text(dialect, rows)
        finally:
            cursor.close()
        return
    result = connection.execute(
        _leaves_query(paredao_id),
        execution_options={"stream_results": True, "yield_per": CHUNK_SIZE},
    )
    for rows in result.partitions(CHUNK_SIZE):
        yield _as_text(dialect, rows)


def certify(
    session: Session, paredao: Paredao, nominee_ids: Sequence[int], outcome: Outcome, now: datetime
) -> Certificate:
    """Build the certificate of `paredao`, frozen now with `outcome`, over its counted votes,
    and store it in place of any earlier one (a tie that was reopened). Unsigned: see
    `Certificate.key_id`."""
    assert paredao.id is not None and paredao.closes_at is not None
    pid = paredao.id
    connection = session.connection()
    tree = ChunkedTree(chunk_size=CHUNK_SIZE)
    choices: Counter[tuple[int, str]] = Counter()
    previous = ""
    for chunk in _vote_chunks(connection, pid):
        if chunk[0][0] <= previous or any(a[0] >= b[0] for a, b in pairwise(chunk)):
            raise RuntimeError(f"paredão {pid}: the votes did not come in vote_id order")
        previous = chunk[-1][0]
        tree.add_chunk(uuid.UUID(chunk[0][0]).bytes, leaf_inputs(pid, chunk))
        choices.update(map(itemgetter(1, 2), chunk))
    totals = {(n, VoteMode(m)): count for (n, m), count in choices.items()}
    root = tree.root
    certificate = Certificate(
        paredao_id=pid,
        payload=payload_text(pid, paredao.closes_at, tree.size, root, totals, nominee_ids, outcome),
        root=root.hex(),
        tree_size=tree.size,
        chunk_size=tree.chunk_size,
        chunk_roots=b"".join(tree.chunk_roots),
        chunk_firsts=b"".join(tree.chunk_firsts),
        created_at=now,
    )
    connection.execute(delete(CERTIFICATES).where(CERTIFICATES.c.paredao_id == pid))
    connection.execute(CERTIFICATES.insert().values(certificate.model_dump()))
    return certificate


# Everything but the chunks, which only a proof needs (1.9 MB at 10 million votes).
_HEAD = [c for c in CERTIFICATES.c if c.name not in ("chunk_roots", "chunk_firsts")]


def get_certificate(
    connection: Connection, paredao_id: int, *, with_chunks: bool = False
) -> Certificate | None:
    """The stored certificate; its chunks empty unless `with_chunks`."""
    columns = list(CERTIFICATES.c) if with_chunks else _HEAD
    row = connection.execute(
        select(*columns).where(CERTIFICATES.c.paredao_id == paredao_id)
    ).first()
    if row is None:
        return None
    return Certificate.model_validate({"chunk_roots": b"", "chunk_firsts": b"", **row._mapping})


def certificate_version(connection: Connection, paredao_id: int) -> tuple[str, datetime] | None:
    """The root and build time of the certificate of a paredão that is frozen now, or None
    (cheap, no chunks read: tells whether a cached copy is current)."""
    row = connection.execute(
        select(CERTIFICATES.c.root, CERTIFICATES.c.created_at)
        .join(PAREDOES, PAREDOES.c.id == CERTIFICATES.c.paredao_id)
        .where(
            CERTIFICATES.c.paredao_id == paredao_id,
            PAREDOES.c.status == ParedaoStatus.closed.value,
        )
    ).first()
    return None if row is None else (row.root, row.created_at)


def store_signature(connection: Connection, paredao_id: int, key_id: str, signature: str) -> None:
    """Sign a certificate once: a signature already stored is kept."""
    connection.execute(
        update(CERTIFICATES)
        .where(CERTIFICATES.c.paredao_id == paredao_id, CERTIFICATES.c.signature.is_(None))
        .values(key_id=key_id, signature=signature)
    )


def chunk_leaves(
    connection: Connection,
    paredao_id: int,
    first: uuid.UUID,
    next_first: uuid.UUID | None,
    chunk_size: int,
) -> list[tuple[str, bytes]]:
    """The (vote_id text, leaf input) of one chunk: its votes from `first` up to the next
    chunk's first (one more than `chunk_size`, if the votes changed since, tells it)."""
    query = _leaves_query(paredao_id).where(VOTES.c.vote_id >= first)
    if next_first is not None:
        query = query.where(VOTES.c.vote_id < next_first)
    rows = _as_text(connection.dialect.name, connection.execute(query.limit(chunk_size + 1)).all())
    return list(zip((v for v, _, _ in rows), leaf_inputs(paredao_id, rows), strict=True))
