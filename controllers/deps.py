"""Dependencies shared by the routers: the unit of work, the clock and admin auth."""

import hmac
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlmodel import Session

from config import Settings
from db.engine import writer_engine
from model.errors import Unauthorized

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# The dependencies that do no I/O are `async def`, so FastAPI runs them on the event loop
# instead of sending each one through the threadpool.


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """One unit of work per request: committed when the handler returns, rolled back on error.

    This is the only place a request's changes are committed. Requests that write begin with
    the database's write lock (SQLite), so concurrent writers queue instead of failing.
    """
    engine: Engine = request.app.state.engine
    if request.method not in READ_METHODS:
        engine = writer_engine(engine)
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


async def get_now(request: Request) -> datetime:
    """The current time from the app's clock (tests replace the clock)."""
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


_bearer = HTTPBearer(auto_error=False, description="The admin token (PAREDAO_ADMIN_TOKEN).")


async def require_admin(
    settings: Annotated[Settings, Depends(get_settings_dep)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Admin calls need `Authorization: Bearer <PAREDAO_ADMIN_TOKEN>`, compared in constant time."""
    if settings.admin_token is None:
        raise Unauthorized("admin calls are disabled: PAREDAO_ADMIN_TOKEN is not set on the server")
    if credentials is None:
        raise Unauthorized("admin call without 'Authorization: Bearer <token>'")
    expected = settings.admin_token.get_secret_value().encode()
    if not hmac.compare_digest(credentials.credentials.encode(), expected):
        raise Unauthorized("wrong admin token")


# scope="function": the unit of work commits when the handler returns, before the answer is
# sent, so a failed commit can never follow a success status.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
NowDep = Annotated[datetime, Depends(get_now)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
AdminDep = Depends(require_admin)
