"""The unit of work of a request: one session, committed when the handler returns, rolled
back on error. This is the only place a request's changes are committed."""

from collections.abc import Iterator

from sqlalchemy import Engine
from sqlmodel import Session

from db.engine import UNAVAILABLE_ERRORS as UNAVAILABLE_ERRORS  # the database cannot answer now
from db.engine import is_transient as is_transient  # a lock wait or deadlock: try again
from db.engine import writer_engine


def unit_of_work(engine: Engine, *, writes: bool) -> Iterator[Session]:
    """A session for one request. One that `writes` begins with the database's write lock
    (SQLite), so concurrent writers queue instead of failing."""
    if writes:
        engine = writer_engine(engine)
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
