"""Queries on the production team's sessions: ending one for good, and asking whether a
session was ended."""

from datetime import datetime

from sqlalchemy import Connection, select
from sqlmodel import SQLModel

from db.votes import upsert
from model.session import RevokedSession

REVOKED = SQLModel.metadata.tables[RevokedSession.__tablename__]


def revoke(connection: Connection, session_id: str, expires_at: datetime) -> None:
    """End a session before its time (logging out twice is the same as once)."""
    statement = upsert(connection, REVOKED).on_conflict_do_nothing()
    connection.execute(statement, {"session_id": session_id, "expires_at": expires_at})


def is_revoked(connection: Connection, session_id: str) -> bool:
    found = connection.execute(
        select(REVOKED.c.session_id).where(REVOKED.c.session_id == session_id)
    ).first()
    return found is not None
