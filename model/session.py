"""The production team's sessions that were ended before their time (logged out)."""

from datetime import datetime

from sqlmodel import Column, Field, SQLModel, String

from model.base import UTCDateTime


class RevokedSession(SQLModel, table=True):
    """A session id that logged out: its cookie is refused even though its signature holds.
    Kept until the session would have expired anyway (then `python main.py prune` drops it)."""

    __tablename__ = "revoked_sessions"

    session_id: str = Field(sa_column=Column(String(64), primary_key=True))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
