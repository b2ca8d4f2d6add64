"""Dependencies shared by the routers: the app's services (each through `app_services`), the
request's unit of work, the current time and admin auth. Handlers get typed dependencies."""

import hmac
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from sqlmodel import Session

from config import Settings
from model.clock import Clock
from model.errors import Unauthorized, WrongTransition
from services.app_services import AppServices, app_services
from services.certificates import CertificateService
from services.difficulty import CaptchaDifficulty
from services.health import Readiness
from services.lifecycle import ParedaoLifecycle
from services.replay import ReplayService
from services.results import ResultsReader
from services.throttle import AddressThrottle
from services.unit_of_work import unit_of_work
from services.voting import VotingService

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
T = TypeVar("T")


def service(pick: Callable[[AppServices], T]) -> Callable[[Request], Awaitable[T]]:
    """A dependency on one of the app's services. It does no I/O, so it is `async def`:
    FastAPI runs it on the event loop instead of sending it through the threadpool."""

    async def dependency(request: Request) -> T:
        return pick(app_services(request.app))

    return dependency


def _replay(services: AppServices) -> ReplayService:
    if services.replay is None:
        raise WrongTransition("the replay reads the Kafka log: this server runs the direct path")
    return services.replay


def get_session(request: Request) -> Iterator[Session]:
    """The request's unit of work (`services.unit_of_work`): committed when the handler
    returns, rolled back on error."""
    engine = app_services(request.app).engine
    yield from unit_of_work(engine, writes=request.method not in READ_METHODS)


async def get_now(request: Request) -> datetime:
    """The current time from the app's clock (tests replace the clock)."""
    return app_services(request.app).clock()


_bearer = HTTPBearer(auto_error=False, description="The admin token (PAREDAO_ADMIN_TOKEN).")


async def require_admin(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Admin calls need `Authorization: Bearer <PAREDAO_ADMIN_TOKEN>`, compared in constant time."""
    admin_token = app_services(request.app).settings.admin_token
    if admin_token is None:
        raise Unauthorized("admin calls are disabled: PAREDAO_ADMIN_TOKEN is not set on the server")
    if credentials is None:
        raise Unauthorized("admin call without 'Authorization: Bearer <token>'")
    expected = admin_token.get_secret_value().encode()
    if not hmac.compare_digest(credentials.credentials.encode(), expected):
        raise Unauthorized("wrong admin token")


# scope="function": the unit of work commits when the handler returns, before the answer is
# sent, so a failed commit can never follow a success status.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
NowDep = Annotated[datetime, Depends(get_now)]
SettingsDep = Annotated[Settings, Depends(service(lambda s: s.settings))]
EngineDep = Annotated[Engine, Depends(service(lambda s: s.engine))]
ClockDep = Annotated[Clock, Depends(service(lambda s: s.clock))]
VotingDep = Annotated[VotingService, Depends(service(lambda s: s.voting))]
ResultsDep = Annotated[ResultsReader, Depends(service(lambda s: s.results))]
LifecycleDep = Annotated[ParedaoLifecycle, Depends(service(lambda s: s.lifecycle))]
ReplayDep = Annotated[ReplayService, Depends(service(_replay))]
CertificatesDep = Annotated[CertificateService, Depends(service(lambda s: s.certificates))]
ReadinessDep = Annotated[Readiness, Depends(service(lambda s: s.readiness))]
TemplatesDep = Annotated[Jinja2Templates, Depends(service(lambda s: s.templates))]
ChallengeThrottleDep = Annotated[AddressThrottle, Depends(service(lambda s: s.challenge_throttle))]
DifficultyDep = Annotated[CaptchaDifficulty, Depends(service(lambda s: s.captcha_difficulty))]
AdminDep = Depends(require_admin)
