"""Dependencies shared by the routers: the app's services, the unit of work, the clock and
admin auth. This is the one module that reads `app.state`; handlers get typed dependencies."""

import hmac
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine, event
from sqlmodel import Session

from config import Settings
from db.engine import writer_engine
from model.clock import Clock
from model.errors import Unauthorized, WrongTransition
from services.closing import ClosingService
from services.difficulty import CaptchaDifficulty
from services.health import Readiness
from services.replay import ReplayService
from services.results import ResultsReader
from services.throttle import AddressThrottle
from services.voting import VotingService

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# The dependencies that do no I/O are `async def`, so FastAPI runs them on the event loop
# instead of sending each one through the threadpool.


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def get_voting(request: Request) -> VotingService:
    voting: VotingService = request.app.state.voting
    return voting


async def get_results(request: Request) -> ResultsReader:
    results: ResultsReader = request.app.state.results
    return results


async def get_closing(request: Request) -> ClosingService:
    closing: ClosingService = request.app.state.closing
    return closing


async def get_replay(request: Request) -> ReplayService:
    replay: ReplayService | None = request.app.state.replay
    if replay is None:
        raise WrongTransition("the replay reads the Kafka log: this server runs the direct path")
    return replay


async def get_readiness(request: Request) -> Readiness:
    readiness: Readiness = request.app.state.readiness
    return readiness


async def get_challenge_throttle(request: Request) -> AddressThrottle:
    throttle: AddressThrottle = request.app.state.challenge_throttle
    return throttle


async def get_difficulty(request: Request) -> CaptchaDifficulty:
    difficulty: CaptchaDifficulty = request.app.state.captcha_difficulty
    return difficulty


async def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


async def get_templates(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.templates
    return templates


def after_commit(session: Session, action: Callable[[], None]) -> None:
    """Run `action` once the request's unit of work has committed (never if it rolls back):
    for forgetting cached reads that the commit made stale."""
    event.listen(session, "after_commit", lambda _session: action(), once=True)


def forget(paredao_id: int, results: ResultsReader, voting: VotingService) -> None:
    """Forget this worker's cached reads of a paredão whose status or schedule changed."""
    results.forget(paredao_id)
    voting.forget(paredao_id)


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


async def get_now(clock: Annotated[Clock, Depends(get_clock)]) -> datetime:
    """The current time from the app's clock (tests replace the clock)."""
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
EngineDep = Annotated[Engine, Depends(get_engine)]
VotingDep = Annotated[VotingService, Depends(get_voting)]
ResultsDep = Annotated[ResultsReader, Depends(get_results)]
ClosingDep = Annotated[ClosingService, Depends(get_closing)]
ReplayDep = Annotated[ReplayService, Depends(get_replay)]
ClockDep = Annotated[Clock, Depends(get_clock)]
ChallengeThrottleDep = Annotated[AddressThrottle, Depends(get_challenge_throttle)]
DifficultyDep = Annotated[CaptchaDifficulty, Depends(get_difficulty)]
ReadinessDep = Annotated[Readiness, Depends(get_readiness)]
TemplatesDep = Annotated[Jinja2Templates, Depends(get_templates)]
AdminDep = Depends(require_admin)
