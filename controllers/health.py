"""Probes for orchestrators and load balancers: alive (`/healthz`) and ready (`/readyz`)."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from controllers.deps import ReadinessDep
from views.api.errors import error_responses

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Alive")
async def healthz() -> dict[str, str]:
    """The process answers: no database or broker round trip, so a database outage never
    gets a healthy process restarted (that is what readiness is for)."""
    return {"status": "ok"}


@router.get("/readyz", summary="Ready for traffic", responses=error_responses(503))
async def readyz(readiness: ReadinessDep) -> JSONResponse:
    """200 when the database is reachable and migrated (and, on the Kafka path, the brokers
    answer); 503 otherwise, and from the moment the process begins shutting down."""
    report = await readiness.check()
    if report.ready:
        return JSONResponse({"status": "ready", "checks": report.checks})
    return JSONResponse(
        {"error": "not_ready", "detail": report.reasons},
        status_code=503,
        headers={"Retry-After": "1"},
    )
