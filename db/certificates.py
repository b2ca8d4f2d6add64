"""Building and storing a frozen paredão's certificate, and reading back what a proof needs.

The tree is built in the freeze's own transaction, so a frozen paredão always has the
certificate of exactly the votes it froze with. It reads every counted vote once, in vote_id
order, a chunk at a time (`model.merkle.ChunkedTree`); a proof later reads one chunk back.
"""

import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from itertools import pairwise
from typing import Any

from sqlalchemy import Connection, Select, String, cast, delete, func, select, update
from sqlmodel import Session, SQLModel

from db.vote_statements import PAREDOES, VOTES
from model.certificate import Certificate, leaf_input, payload_text
from model.merkle import CHUNK_SIZE, ChunkedTree
from model.paredao import Paredao, ParedaoStatus
from model.results import Outcome
from model.vote import VoteMode

CERTIFICATES = SQLModel.metadata.tables[Certificate.__tablename__]


@cache
def _vote_text(dialect: str) -> Any:
    """The vote_id as its lowercase hyphenated text, made by the database (cheaper than a
    UUID object per row): SQLite stores it as 32 hex digits, PostgreSQL as a uuid."""
    column = VOTES.c.vote_id
    if dialect == "postgresql":
        return cast(column, String)
    text = func.lower(cast(column, String))
    parts = [
        func.substr(text, start, length)
        for start, length in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
    ]
    hyphenated: Any = parts[0]
    for part in parts[1:]:
        hyphenated = hyphenated.op("||")("-").op("||")(part)
    return hyphenated


def _leaves_query(connection: Connection, paredao_id: int) -> Select[Any]:
    return (
        select(_vote_text(connection.dialect.name), VOTES.c.nominee_id, VOTES.c.mode)
        .where(VOTES.c.paredao_id == paredao_id)
        .order_by(VOTES.c.vote_id)
    )


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
    totals: Counter[tuple[int, VoteMode]] = Counter()
    previous = ""
    rows = connection.execute(
        _leaves_query(connection, pid),
        execution_options={"stream_results": True, "yield_per": CHUNK_SIZE},
    )
    for chunk in rows.partitions(CHUNK_SIZE):
        if chunk[0][0] <= previous or any(a[0] >= b[0] for a, b in pairwise(chunk)):
            raise RuntimeError(f"paredão {pid}: the votes did not come in vote_id order")
        previous = chunk[-1][0]
        tree.add_chunk(
            uuid.UUID(chunk[0][0]).bytes, [leaf_input(pid, v, n, m) for v, n, m in chunk]
        )
        totals.update((n, VoteMode(m)) for _, n, m in chunk)
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
    query = _leaves_query(connection, paredao_id).where(VOTES.c.vote_id >= first)
    if next_first is not None:
        query = query.where(VOTES.c.vote_id < next_first)
    rows = connection.execute(query.limit(chunk_size + 1)).all()
    return [(v, leaf_input(paredao_id, v, n, m)) for v, n, m in rows]
