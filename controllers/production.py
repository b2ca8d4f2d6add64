"""The production team's pages: every paredão, and each one's live dashboard (totals, per
nominee per mode and final, votes per hour), with open, close and recount."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from controllers.certificates import page_certificate
from controllers.deps import (
    EngineDep,
    LifecycleDep,
    NowDep,
    ResultsDep,
    SessionDep,
    TemplatesDep,
)
from controllers.pages import PageParedaoDep, PageRoute, load_paredao
from controllers.production_session import (
    CSRFDep,
    MaybeProducerDep,
    ProducerActorDep,
    ProducerDep,
    login_redirect,
)
from controllers.render import render_page
from services import audit
from services import paredoes as paredao_queries
from services.lifecycle import ParedaoLifecycle
from services.producer_session import ProducerSession
from services.results import ResultsReader
from views.api.params import ParedaoId
from views.api.paredoes import ParedaoPublic
from views.api.votes import RecountPublic, ResultsPublic, StatsPublic
from views.web.chart import hourly_chart
from views.web.formatting import NOMINEE_COLORS, format_int, format_percent, iso_utc
from views.web.wording import STATUS_LABELS

REFRESH_SECONDS = 5

router = APIRouter(prefix="/producao", route_class=PageRoute, include_in_schema=False)
# The dashboard's auto-refresh reads JSON, so its errors stay JSON.
data = APIRouter(prefix="/producao", include_in_schema=False)


@router.get("")
def production_index(
    request: Request, producer: MaybeProducerDep, session: SessionDep, now: NowDep
) -> Response:
    """Every paredão, newest first, with a link to its dashboard."""
    if producer is None:
        return login_redirect(request)
    page, _ = paredao_queries.list_paredoes(session, status=None, now=now, limit=100, offset=0)
    paredoes = [ParedaoPublic.build(p, nominees, now) for p, nominees in page]
    context = {"paredoes": paredoes, "csrf_token": producer.csrf_token}
    return render_page(request, "producao_index.html", context)


def _dashboard_numbers(
    templates: Jinja2Templates, stats: StatsPublic, results: ResultsPublic
) -> dict[str, Any]:
    """The dashboard's live numbers, already formatted, for the page and its auto-refresh."""
    percent = {n.candidate_id: n.percent for n in results.nominees}
    chart = hourly_chart(stats)
    return {
        "as_of": iso_utc(stats.as_of),
        "status": results.status.value,
        "status_label": STATUS_LABELS[results.status],
        "total_votes": stats.total_votes,
        "total_votes_text": format_int(stats.total_votes),
        "nominees": [
            {
                "candidate_id": n.candidate_id,
                "name": n.name,
                "color": NOMINEE_COLORS[i % len(NOMINEE_COLORS)],
                "votes": n.votes.model_dump(),
                "percent": percent[n.candidate_id].model_dump(),
                "text": {
                    "unico": format_int(n.votes.unico),
                    "torcida": format_int(n.votes.torcida),
                    "total": format_int(n.votes.total),
                    "percent_unico": format_percent(percent[n.candidate_id].unico),
                    "percent_torcida": format_percent(percent[n.candidate_id].torcida),
                    "percent_final": format_percent(percent[n.candidate_id].final),
                },
            }
            for i, n in enumerate(stats.nominees)
        ],
        "chart_svg": templates.get_template("_chart.html").render(chart=chart),
    }


async def _live(reader: ResultsReader, paredao_id: int) -> tuple[StatsPublic, ResultsPublic]:
    """The dashboard's live numbers: the stats, and the results in full (never hidden)."""
    stats = StatsPublic.of(await reader.stats(paredao_id))
    return stats, ResultsPublic.of(await reader.results(paredao_id, reveal=True))


async def _dashboard(
    request: Request,
    paredao: ParedaoPublic,
    producer: ProducerSession,
    reader: ResultsReader,
    templates: Jinja2Templates,
    *,
    recount: RecountPublic | None = None,
    recounted_at: datetime | None = None,
    notice: str | None = None,
) -> Response:
    stats, results = await _live(reader, paredao.id)
    context = {
        "paredao": paredao,
        "certificate": await page_certificate(request, paredao.id),
        "numbers": _dashboard_numbers(templates, stats, results),
        "results": results,
        "recount": recount,
        "notice": notice,
        "recounted_at": recounted_at,
        "csrf_token": producer.csrf_token,
        "refresh_seconds": REFRESH_SECONDS,
    }
    return render_page(request, "producao_dashboard.html", context)


NOTICES = {
    "aberta": "Votação aberta.",
    "encerrada": "Votação encerrada: o resultado está congelado.",
}


@router.get("/paredoes/{paredao_id}")
async def dashboard(
    paredao_id: ParedaoId,
    request: Request,
    producer: MaybeProducerDep,
    engine: EngineDep,
    now: NowDep,
    reader: ResultsDep,
    templates: TemplatesDep,
    aviso: str | None = None,
) -> Response:
    """Totals, per nominee per mode, the final percentages and the hourly chart."""
    if producer is None:
        return login_redirect(request)
    paredao = await load_paredao(paredao_id, engine, now)
    notice = NOTICES.get(aviso or "")
    return await _dashboard(request, paredao, producer, reader, templates, notice=notice)


LifecycleStep = Callable[[ParedaoLifecycle, int, str], Awaitable[object]]


def _lifecycle_button(name: str, action: str, step: LifecycleStep, notice: str) -> None:
    """The dashboard's button at `.../{paredao_id}/{action}`: the lifecycle takes `step` (a
    wrong transition is the lifecycle's 409), then back to the dashboard showing `notice`."""

    @router.post(f"/paredoes/{{paredao_id}}/{action}", name=name)
    async def take_step(
        paredao_id: ParedaoId, actor: ProducerActorDep, lifecycle: LifecycleDep
    ) -> Response:
        await step(lifecycle, paredao_id, actor)
        return RedirectResponse(f"/producao/paredoes/{paredao_id}?aviso={notice}", status_code=303)


_lifecycle_button("open_voting", "abrir", ParedaoLifecycle.open, "aberta")
_lifecycle_button("close_voting", "encerrar", ParedaoLifecycle.close, "encerrada")


@router.post("/paredoes/{paredao_id}/recontar")
async def recount(
    request: Request,
    producer: CSRFDep,
    actor: ProducerActorDep,
    paredao: PageParedaoDep,
    reader: ResultsDep,
    templates: TemplatesDep,
    now: NowDep,
    session: SessionDep,
) -> Response:
    """Count the raw votes again and show whether they match the tally."""
    result = RecountPublic.of(await reader.recount(paredao.id))
    await asyncio.to_thread(
        audit.record, session, actor, "paredao.recount", f"paredao:{paredao.id}", now
    )
    return await _dashboard(
        request, paredao, producer, reader, templates, recount=result, recounted_at=now
    )


@data.get("/paredoes/{paredao_id}/dados")
async def dashboard_numbers(
    paredao_id: ParedaoId, _producer: ProducerDep, reader: ResultsDep, templates: TemplatesDep
) -> JSONResponse:
    """The dashboard's numbers for its auto-refresh (the session cookie, not a bearer token)."""
    stats, results = await _live(reader, paredao_id)
    return JSONResponse(
        _dashboard_numbers(templates, stats, results), headers={"Cache-Control": "no-store"}
    )
