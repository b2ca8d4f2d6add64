"""The audit log's queries: append an entry in the caller's transaction, read it back."""

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, text
from sqlmodel import SQLModel

from model.audit import GENESIS, AuditEntry, chain_hash

AUDIT = SQLModel.metadata.tables[AuditEntry.__tablename__]
# The PostgreSQL advisory lock that makes appends one at a time (SQLite's write lock does).
_APPEND_LOCK = 9162_0001


def append(
    connection: Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    request_id: str | None,
) -> AuditEntry:
    """Append an entry, chained to the last one, in the caller's transaction: it commits or
    rolls back with the action it records. Appends wait for each other until commit, so the
    chain never forks (and a duplicate `seq` would fail the transaction if one did)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _APPEND_LOCK})
    last = connection.execute(
        select(AUDIT.c.seq, AUDIT.c.hash).order_by(AUDIT.c.seq.desc()).limit(1)
    ).first()
    seq, prev_hash = (1, GENESIS) if last is None else (last.seq + 1, last.hash)
    fields: dict[str, Any] = {
        "seq": seq,
        "at": at,
        "actor": actor,
        "action": action,
        "target": target,
        "request_id": request_id,
    }
    entry = AuditEntry(**fields, prev_hash=prev_hash, hash=chain_hash(prev_hash, fields))
    connection.execute(AUDIT.insert().values(entry.model_dump()))
    return entry


def page(connection: Connection, *, limit: int, offset: int) -> tuple[list[AuditEntry], int]:
    """One page of the log, oldest first, and how many entries it holds."""
    total = connection.execute(select(func.count()).select_from(AUDIT)).scalar_one()
    rows = connection.execute(select(AUDIT).order_by(AUDIT.c.seq).limit(limit).offset(offset))
    return [AuditEntry.model_validate(r._mapping) for r in rows], int(total)


def every_entry(connection: Connection) -> Iterator[AuditEntry]:
    """The whole log, oldest first, read a thousand at a time."""
    rows = connection.execute(
        select(AUDIT).order_by(AUDIT.c.seq),
        execution_options={"stream_results": True, "yield_per": 1000},
    )
    for row in rows:
        yield AuditEntry.model_validate(row._mapping)
