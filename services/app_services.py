"""The services of a running app, made once when it starts (`app.py`), and the one way in to
them: `app_services(app)`, for dependencies, middlewares and pages alike."""

from dataclasses import dataclass

from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from starlette.applications import Starlette

from config import Settings
from model.clock import Clock
from pipeline.sink import VoteSink
from services.certificates import CertificateService
from services.difficulty import CaptchaDifficulty
from services.health import Readiness
from services.lifecycle import ParedaoLifecycle
from services.replay import ReplayService
from services.results import ResultsReader
from services.throttle import AddressThrottle
from services.voting import VotingService


@dataclass(frozen=True)
class AppServices:
    settings: Settings
    clock: Clock  # every time the app reads (tests pass one they move by hand)
    engine: Engine  # units of work for requests; new paredões take its CPF key
    sink: VoteSink  # where accepted votes go: the writer, or the Kafka log
    voting: VotingService
    results: ResultsReader
    lifecycle: ParedaoLifecycle
    replay: ReplayService | None  # the Kafka path only
    certificates: CertificateService  # frozen results' certificates and their proofs
    readiness: Readiness
    challenge_throttle: AddressThrottle
    captcha_difficulty: CaptchaDifficulty
    templates: Jinja2Templates  # of the web pages


def app_services(app: Starlette) -> AppServices:
    """The services of `app`, made by its lifespan when it started."""
    services = getattr(app.state, "services", None)
    if not isinstance(services, AppServices):
        raise RuntimeError("the app's services are made when it starts: run its lifespan")
    return services
