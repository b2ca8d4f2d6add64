"""The web pages: open paredões, voting, the application form, and the production dashboard.

Server-rendered (Jinja2), in Brazilian Portuguese; every page works without JavaScript, which
only adds the captcha, the CPF mask, live countdowns and the dashboard's auto-refresh. The
pages call the same queries and services as the JSON API.
"""

import asyncio
import hmac
import uuid
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.datastructures import Headers
from starlette.routing import Match
from starlette.types import Scope

from config import Settings
from controllers import candidates
from controllers.deps import NowDep, SessionDep, SettingsDep
from db import paredoes as paredao_queries
from model.errors import DomainError, DuplicateEmail, Forbidden, Invalid, Unauthorized
from model.paredao import ParedaoStatus
from pipeline.ballot import new_vote_id
from services.results import ResultsReader
from services.voting import VotingService
from views.candidates import CandidateCreate
from views.pages import (
    CANDIDATE_FIELDS,
    NOMINEE_COLORS,
    SESSION_COOKIE,
    SESSION_TTL,
    STATE_CHOICES,
    STATUS_LABELS,
    VOTE_ERROR_MESSAGES,
    FieldError,
    ProducerSession,
    candidate_field_errors,
    format_int,
    format_percent,
    hourly_chart,
    iso_utc,
    new_session,
    read_session,
    render_page,
    sign_session,
    vote_error_message,
)
from views.paredoes import ParedaoPublic
from views.votes import RecountPublic, ResultsPublic, StatsPublic, VoteCreate

VOTER_COOKIE = "paredao_voter"
MAX_FORM_BYTES = 64 * 1024
REFRESH_SECONDS = 5


class PageRoute(APIRoute):
    """A route of a web page: its errors are answered as HTML pages (`controllers.errors`)."""

    renders_html = True


class BrowserPageRoute(PageRoute):
    """A page that shares its path with an API route (`GET /paredoes/{id}`): it matches only
    requests that ask for HTML, so every other client reaches the JSON route behind it."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match != Match.NONE and "text/html" not in Headers(scope=scope).get("accept", ""):
            return Match.NONE, {}
        return match, child_scope


public = APIRouter(route_class=PageRoute, include_in_schema=False)
browser = APIRouter(route_class=BrowserPageRoute, include_in_schema=False)
production = APIRouter(prefix="/producao", route_class=PageRoute, include_in_schema=False)
# The dashboard's auto-refresh reads JSON, so its errors stay JSON.
production_data = APIRouter(prefix="/producao", include_in_schema=False)


class UnsupportedForm(DomainError):
    status_code = 415
    code = "unsupported_form"


class NomineeMissing(Invalid):
    code = "nominee_missing"


class CPFMissing(Invalid):
    code = "cpf_missing"


class CaptchaNeedsJavaScript(Forbidden):
    code = "captcha_needs_javascript"


class LoginRequired(Unauthorized):
    code = "login_required"


class CSRFFailed(Forbidden):
    code = "csrf_failed"


# --- dependencies ----------------------------------------------------------------------------


async def read_form(request: Request) -> dict[str, str]:
    """The fields of a plain HTML form (`application/x-www-form-urlencoded`; last value wins)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if not body:
        return {}  # an empty form: its own checks (CSRF, required fields) answer
    if content_type != "application/x-www-form-urlencoded":
        raise UnsupportedForm(
            f"expected a form (application/x-www-form-urlencoded), not {content_type!r}"
        )
    if len(body) > MAX_FORM_BYTES:
        raise Invalid(f"the form is larger than {MAX_FORM_BYTES} bytes")
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Invalid("the form could not be read") from exc
    return dict(pairs)


FormDep = Annotated[dict[str, str], Depends(read_form)]


async def producer_session(
    request: Request, settings: SettingsDep, now: NowDep
) -> ProducerSession | None:
    """The producer's session from its signed cookie, or None (absent, forged or expired)."""
    if settings.admin_token is None:
        return None
    return read_session(
        request.cookies.get(SESSION_COOKIE),
        settings.secret_bytes,
        settings.admin_token.get_secret_value(),
        now,
    )


MaybeProducerDep = Annotated[ProducerSession | None, Depends(producer_session)]


async def require_producer(producer: MaybeProducerDep) -> ProducerSession:
    if producer is None:
        raise LoginRequired(
            "Sua sessão da produção expirou ou não existe: entre de novo com o token."
        )
    return producer


ProducerDep = Annotated[ProducerSession, Depends(require_producer)]


async def check_csrf(producer: ProducerDep, form: FormDep) -> ProducerSession:
    """A producer's form must carry its session's CSRF token (besides the SameSite cookie)."""
    sent = form.get("csrf_token", "").encode()
    if not hmac.compare_digest(sent, producer.csrf_token.encode()):
        raise CSRFFailed(
            "Este formulário expirou ou não veio desta página: recarregue a página e tente de novo."
        )
    return producer


CSRFDep = Annotated[ProducerSession, Depends(check_csrf)]


def _read_paredao(engine: Engine, paredao_id: int, now: datetime) -> ParedaoPublic:
    with Session(engine) as session:
        return ParedaoPublic.build(*paredao_queries.get_paredao(session, paredao_id), now)


async def load_paredao(request: Request, paredao_id: int) -> ParedaoPublic:
    """The paredão as the API shows it (404 if unknown), read off the event loop."""
    now: datetime = request.app.state.clock()
    return await asyncio.to_thread(_read_paredao, request.app.state.engine, paredao_id, now)


# --- the public pages ------------------------------------------------------------------------


@public.get("/")
def index(request: Request, session: SessionDep, now: NowDep) -> Response:
    """The open paredões, each with its nominees and the time left to vote."""
    page, _ = paredao_queries.list_paredoes(
        session, status=ParedaoStatus.open, now=now, limit=100, offset=0
    )
    paredoes = [ParedaoPublic.build(p, nominees, now) for p, nominees in page]
    return render_page(request, "index.html", {"paredoes": paredoes})


async def _vote_page(
    request: Request,
    paredao: ParedaoPublic,
    *,
    error: str | None = None,
    chosen: dict[str, str] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """The vote form while the paredão is open; its result once closed."""
    results = None
    if paredao.status == ParedaoStatus.closed:
        reader: ResultsReader = request.app.state.results
        results = await reader.results(paredao.id)
    context = {
        "paredao": paredao,
        "results": results,
        "error": error,
        "chosen": chosen or {},
        "vote_id": str(new_vote_id()),
        "voter_id": request.cookies.get(VOTER_COOKIE, ""),
        "messages": VOTE_ERROR_MESSAGES,
    }
    return render_page(request, "vote.html", context, status_code=status_code, headers=headers)


@browser.get("/paredoes/{paredao_id}")
async def vote_page(paredao_id: int, request: Request) -> Response:
    """The vote page (browsers only: other clients get the API's JSON at the same address)."""
    return await _vote_page(request, await load_paredao(request, paredao_id))


def _vote_from_form(form: dict[str, str], voter_id: str) -> VoteCreate:
    if not form.get("nominee_id"):
        raise NomineeMissing("choose a nominee")
    mode = form.get("mode", "")
    cpf = form.get("cpf", "").strip() or None
    if mode == "unico" and cpf is None:
        raise CPFMissing("a voto único needs the voter's cpf")
    try:
        return VoteCreate.model_validate(
            {
                "nominee_id": form["nominee_id"],
                "mode": mode,
                "voter_id": voter_id,
                # Without JavaScript the CPF field is always on the form: torcida ignores it.
                "cpf": cpf if mode == "unico" else None,
                "vote_id": form.get("vote_id") or None,
                "captcha_token": form.get("captcha_token") or None,
            }
        )
    except ValidationError as exc:
        raise Invalid("the vote form is not valid: choose a nominee and a way to vote") from exc


@public.post("/paredoes/{paredao_id}/votar")
async def vote_without_script(
    paredao_id: int, request: Request, form: FormDep, now: NowDep
) -> Response:
    """The vote form's plain POST, for browsers without JavaScript: casts the vote through
    the same service as the API, then shows the confirmation or the error on the vote page.
    A paredão that requires the captcha cannot be voted here (the captcha needs the script)."""
    paredao = await load_paredao(request, paredao_id)
    voter_id = form.get("voter_id") or request.cookies.get(VOTER_COOKIE) or str(uuid.uuid4())
    voting: VotingService = request.app.state.voting
    try:
        vote = _vote_from_form(form, voter_id)
        if paredao.require_captcha and not vote.captcha_token:
            raise CaptchaNeedsJavaScript("this paredão needs the captcha, which runs in JavaScript")
        accepted = await voting.cast(paredao_id, vote, now)
    except DomainError as exc:
        message = vote_error_message(exc.code, exc.detail, exc.headers.get("Retry-After"))
        return await _vote_page(
            request,
            paredao,
            error=message,
            chosen=form,
            status_code=exc.status_code,
            headers=exc.headers,
        )
    reader: ResultsReader = request.app.state.results
    nominee = next(n for n in paredao.nominees if n.candidate_id == accepted.nominee_id)
    context = {
        "paredao": paredao,
        "nominee": nominee,
        "mode": accepted.mode,
        "results": await reader.results(paredao_id),
    }
    response = render_page(request, "confirmation.html", context)
    response.set_cookie(VOTER_COOKIE, voter_id, max_age=365 * 86_400, httponly=True, samesite="lax")
    return response


@public.get("/inscricao")
def application_form(request: Request) -> Response:
    return _application_page(request, {}, {})


def _application_page(
    request: Request,
    values: dict[str, str],
    errors: dict[str, FieldError],
    status_code: int = 200,
) -> Response:
    context = {"values": values, "errors": errors, "states": STATE_CHOICES}
    return render_page(request, "inscricao.html", context, status_code=status_code)


@public.post("/inscricao")
def apply_by_form(request: Request, form: FormDep, session: SessionDep) -> Response:
    """The application form: validated as `POST /candidates`; errors beside their fields."""
    values = {field: form.get(field, "").strip() for field in CANDIDATE_FIELDS}
    optional = {"bio", "photo_url"}
    fields = {k: v for k, v in values.items() if v or k not in optional}
    try:
        candidates.apply(CandidateCreate.model_validate(fields), session)
    except ValidationError as exc:
        errors = candidate_field_errors(exc.errors(include_url=False))
        return _application_page(request, values, errors, status_code=422)
    except DuplicateEmail:
        errors = {"email": FieldError("Já existe uma inscrição com este e-mail.")}
        return _application_page(request, values, errors, status_code=409)
    return RedirectResponse("/inscricao/enviada", status_code=303)


@public.get("/inscricao/enviada")
def application_sent(request: Request) -> Response:
    return render_page(request, "inscricao_enviada.html")


# --- the production pages --------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """Where to go after logging in: only a production page of this site."""
    if target and target.startswith("/producao") and "//" not in target and "\\" not in target:
        return target
    return "/producao"


def _login_redirect(request: Request) -> Response:
    return RedirectResponse(f"/producao/login?next={quote(request.url.path)}", status_code=303)


@production.get("/login")
def login_form(
    request: Request, next_page: Annotated[str | None, Query(alias="next")] = None
) -> Response:
    return render_page(request, "producao_login.html", {"next": _safe_next(next_page)})


@production.post("/login")
def login(request: Request, form: FormDep, settings: SettingsDep, now: NowDep) -> Response:
    """Trade the admin token for a signed, HttpOnly, SameSite=Strict session cookie."""
    target = _safe_next(form.get("next"))
    if settings.admin_token is None:
        error = "O acesso da produção está desativado: PAREDAO_ADMIN_TOKEN não está configurado."
        return render_page(
            request, "producao_login.html", {"next": target, "error": error}, status_code=503
        )
    token = settings.admin_token.get_secret_value()
    if not hmac.compare_digest(form.get("token", "").encode(), token.encode()):
        context = {"next": target, "error": "Token incorreto. Confira e tente de novo."}
        return render_page(request, "producao_login.html", context, status_code=401)
    response = RedirectResponse(target, status_code=303)
    _set_session_cookie(request, response, settings, new_session(now))
    return response


def _set_session_cookie(
    request: Request, response: Response, settings: Settings, producer: ProducerSession
) -> None:
    assert settings.admin_token is not None
    response.set_cookie(
        SESSION_COOKIE,
        sign_session(producer, settings.secret_bytes, settings.admin_token.get_secret_value()),
        max_age=int(SESSION_TTL.total_seconds()),
        path="/producao",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


@production.post("/sair")
def logout(_producer: CSRFDep) -> Response:
    response = RedirectResponse("/producao/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/producao", httponly=True, samesite="strict")
    return response


@production.get("")
def production_index(
    request: Request, producer: MaybeProducerDep, session: SessionDep, now: NowDep
) -> Response:
    """Every paredão, newest first, with a link to its dashboard."""
    if producer is None:
        return _login_redirect(request)
    page, _ = paredao_queries.list_paredoes(session, status=None, now=now, limit=100, offset=0)
    paredoes = [ParedaoPublic.build(p, nominees, now) for p, nominees in page]
    context = {"paredoes": paredoes, "csrf_token": producer.csrf_token}
    return render_page(request, "producao_index.html", context)


def _dashboard_numbers(
    request: Request, stats: StatsPublic, results: ResultsPublic
) -> dict[str, Any]:
    """The dashboard's live numbers, already formatted, for the page and its auto-refresh."""
    percent = {n.candidate_id: n.percent for n in results.nominees}
    templates = request.app.state.templates
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


async def _dashboard(
    request: Request,
    paredao_id: int,
    producer: ProducerSession,
    *,
    recount: RecountPublic | None = None,
    notice: str | None = None,
) -> Response:
    paredao = await load_paredao(request, paredao_id)
    reader: ResultsReader = request.app.state.results
    stats = await reader.stats(paredao_id)
    results = await reader.results(paredao_id, reveal=True)
    context = {
        "paredao": paredao,
        "numbers": _dashboard_numbers(request, stats, results),
        "results": results,
        "recount": recount,
        "notice": notice,
        "recounted_at": request.app.state.clock() if recount else None,
        "csrf_token": producer.csrf_token,
        "refresh_seconds": REFRESH_SECONDS,
    }
    return render_page(request, "producao_dashboard.html", context)


NOTICES = {
    "aberta": "Votação aberta.",
    "encerrada": "Votação encerrada: o resultado está congelado.",
}


@production.get("/paredoes/{paredao_id}")
async def dashboard(
    paredao_id: int, request: Request, producer: MaybeProducerDep, aviso: str | None = None
) -> Response:
    """Totals, per nominee per mode, the final percentages and the hourly chart."""
    if producer is None:
        return _login_redirect(request)
    return await _dashboard(request, paredao_id, producer, notice=NOTICES.get(aviso or ""))


@production.post("/paredoes/{paredao_id}/abrir")
def open_voting(paredao_id: int, _producer: CSRFDep, session: SessionDep, now: NowDep) -> Response:
    paredao_queries.change_status(session, paredao_id, ParedaoStatus.open, now)
    return RedirectResponse(f"/producao/paredoes/{paredao_id}?aviso=aberta", status_code=303)


@production.post("/paredoes/{paredao_id}/encerrar")
def close_voting(paredao_id: int, _producer: CSRFDep, session: SessionDep, now: NowDep) -> Response:
    paredao_queries.change_status(session, paredao_id, ParedaoStatus.closed, now)
    return RedirectResponse(f"/producao/paredoes/{paredao_id}?aviso=encerrada", status_code=303)


@production.post("/paredoes/{paredao_id}/recontar")
async def recount(paredao_id: int, request: Request, producer: CSRFDep) -> Response:
    """Count the raw votes again and show whether they match the tally."""
    reader: ResultsReader = request.app.state.results
    result = await reader.recount(paredao_id)
    return await _dashboard(request, paredao_id, producer, recount=result)


@production_data.get("/paredoes/{paredao_id}/dados")
async def dashboard_numbers(
    paredao_id: int, request: Request, _producer: ProducerDep
) -> JSONResponse:
    """The dashboard's numbers for its auto-refresh (the session cookie, not a bearer token)."""
    reader: ResultsReader = request.app.state.results
    stats = await reader.stats(paredao_id)
    results = await reader.results(paredao_id, reveal=True)
    return JSONResponse(
        _dashboard_numbers(request, stats, results), headers={"Cache-Control": "no-store"}
    )
