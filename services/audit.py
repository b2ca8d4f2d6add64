"""The audit log of admin actions (`model.audit`): who did what to which, in the action's own
transaction; its pages; and the check of the whole chain (`python main.py audit-verify`)."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from db import audit as queries
from model.audit import AuditEntry, fingerprint, first_break
from observability.logs import request_id


def admin_actor(audit_key: bytes, token: str) -> str:
    """Who acted with the admin token: `admin:` and the token's fingerprint."""
    return f"admin:{fingerprint(audit_key, token)}"


def session_actor(audit_key: bytes, session_id: str) -> str:
    """Who acted in a production session: `session:` and the session's fingerprint."""
    return f"session:{fingerprint(audit_key, session_id)}"


def record(session: Session, actor: str, action: str, target: str, at: datetime) -> None:
    """Append the entry of an action done in `session`'s unit of work (committed with it, or
    not at all), with the id of the request being served."""
    queries.append(
        session.connection(),
        at=at,
        actor=actor,
        action=action,
        target=target,
        request_id=request_id.get(),
    )


def read_page(session: Session, *, limit: int, offset: int) -> tuple[list[AuditEntry], int]:
    return queries.page(session.connection(), limit=limit, offset=offset)


@dataclass(frozen=True)
class ChainCheck:
    entries: int  # how many were read (up to the break, if any)
    broken_at: int | None  # the seq of the first entry that does not match
    reason: str | None


def verify_chain(engine: Engine) -> ChainCheck:
    """Recompute every entry's hash, oldest first, and report the first that does not match."""
    read = 0

    def counted() -> Iterator[dict[str, Any]]:
        nonlocal read
        with engine.connect() as connection:
            for entry in queries.every_entry(connection):
                read += 1
                yield entry.model_dump()

    broken = first_break(counted())
    if broken is None:
        return ChainCheck(read, None, None)
    return ChainCheck(read, broken[0], broken[1])
