"""The public web pages: open paredões, voting, and the application form.

Server-rendered (Jinja2), in Brazilian Portuguese; every page works without JavaScript, which
only adds the captcha, the CPF mask and live countdowns. The pages call the same queries and
services as the JSON API. The production team's pages are in `controllers.production`.
"""

import uuid
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.routing import Match
from starlette.types import Scope

from controllers import candidates
from controllers.certificates import page_certificate
from controllers.deps import EngineDep, NowDep, ResultsDep, SessionDep, VotingDep
from controllers.page_errors import (
    CaptchaNeedsJavaScript,
    CPFMissing,
    NomineeMissing,
    PayloadTooLarge,
    UnsupportedForm,
)
from controllers.render import render_page
from model.ballot import new_vote_id
from model.errors import DomainError, DuplicateEmail, Invalid
from model.paredao import ParedaoStatus
from services import paredoes as paredao_queries
from services.results import ResultsReader
from views.api.candidates import CandidateCreate, age_errors
from views.api.params import MAX_ID, ParedaoId
from views.api.paredoes import ParedaoPublic
from views.api.votes import ResultsPublic, VoteCreate
from views.web.forms import CANDIDATE_FIELDS, STATE_CHOICES, FieldError, candidate_field_errors
from views.web.wording import VOTE_ERROR_MESSAGES, vote_error_message

VOTER_COOKIE = "paredao_voter"
MAX_FORM_BYTES = 64 * 1024


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


# --- dependencies ----------------------------------------------------------------------------


async def read_form(request: Request) -> dict[str, str]:
    """The fields of a plain HTML form (`application/x-www-form-urlencoded`; last value wins),
    read no further than MAX_FORM_BYTES (413 past it)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise PayloadTooLarge(f"the form is larger than {MAX_FORM_BYTES} bytes")
    if not body:
        return {}  # an empty form: its own checks (CSRF, required fields) answer
    if content_type != "application/x-www-form-urlencoded":
        raise UnsupportedForm(
            f"expected a form (application/x-www-form-urlencoded), not {content_type!r}"
        )
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Invalid("the form could not be read") from exc
    return dict(pairs)


FormDep = Annotated[dict[str, str], Depends(read_form)]


async def load_paredao(paredao_id: ParedaoId, engine: EngineDep, now: NowDep) -> ParedaoPublic:
    """The paredão of the page's path as the API shows it (404 if unknown)."""
    return ParedaoPublic.build(*await paredao_queries.load_paredao(engine, paredao_id), now)


PageParedaoDep = Annotated[ParedaoPublic, Depends(load_paredao)]


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
    reader: ResultsReader,
    *,
    error: str | None = None,
    chosen: dict[str, str] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """The vote form while the paredão is open; its result once closed."""
    results = certificate = None
    if paredao.status == ParedaoStatus.closed:
        results = ResultsPublic.of(await reader.results(paredao.id))
        certificate = await page_certificate(request, paredao.id)
    context = {
        "paredao": paredao,
        "results": results,
        "certificate": certificate,
        "error": error,
        "chosen": chosen or {},
        "vote_id": str(new_vote_id()),
        "voter_id": request.cookies.get(VOTER_COOKIE, ""),
        "messages": VOTE_ERROR_MESSAGES,
    }
    return render_page(request, "vote.html", context, status_code=status_code, headers=headers)


@browser.get("/paredoes/{paredao_id}")
async def vote_page(request: Request, paredao: PageParedaoDep, reader: ResultsDep) -> Response:
    """The vote page (browsers only: other clients get the API's JSON at the same address)."""
    return await _vote_page(request, paredao, reader)


def _digits(text: str) -> bool:
    """Whether `text` is a number an id can be (ASCII digits, no more than an id has)."""
    return text.isascii() and text.isdigit() and len(text) <= len(str(MAX_ID))


def _vote_from_form(form: dict[str, str], voter_id: str) -> VoteCreate:
    nominee = form.get("nominee_id", "")
    if not nominee:
        raise NomineeMissing("choose a nominee")
    mode = form.get("mode", "")
    cpf = form.get("cpf", "").strip() or None
    if mode == "unico" and cpf is None:
        raise CPFMissing("a voto único needs the voter's cpf")
    try:
        return VoteCreate.model_validate(
            {
                # A form sends text; the vote's schema takes the number.
                "nominee_id": int(nominee) if _digits(nominee) else nominee,
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
    paredao_id: ParedaoId,
    request: Request,
    paredao: PageParedaoDep,
    form: FormDep,
    now: NowDep,
    voting: VotingDep,
    reader: ResultsDep,
) -> Response:
    """The vote form's plain POST, for browsers without JavaScript: casts the vote through
    the same service as the API, then shows the confirmation or the error on the vote page.
    A paredão that requires the captcha cannot be voted here (the captcha needs the script)."""
    voter_id = form.get("voter_id") or request.cookies.get(VOTER_COOKIE) or str(uuid.uuid4())
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
            reader,
            error=message,
            chosen=form,
            status_code=exc.status_code,
            headers=exc.headers,
        )
    nominee = next(n for n in paredao.nominees if n.candidate_id == accepted.nominee_id)
    context = {
        "paredao": paredao,
        "nominee": nominee,
        "mode": accepted.mode,
        "vote_id": accepted.vote_id,
        "results": ResultsPublic.of(await reader.results(paredao_id)),
    }
    response = render_page(request, "confirmation.html", context)
    response.set_cookie(VOTER_COOKIE, voter_id, max_age=365 * 86_400, httponly=True, samesite="lax")
    return response


@public.get("/paredoes/{paredao_id}/verificar")
def verify_page(
    request: Request,
    paredao: PageParedaoDep,
    vote_id: Annotated[uuid.UUID | None, Query(alias="voto")] = None,
) -> Response:
    """Checks a vote's receipt in the browser (static/js/verificar.js), trusting nothing of
    the server's: the certificate's signature, then the vote's inclusion proof."""
    context = {"paredao": paredao, "vote_id": vote_id, "base_url": str(request.base_url)}
    return render_page(request, "verificar.html", context)


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
def apply_by_form(request: Request, form: FormDep, session: SessionDep, now: NowDep) -> Response:
    """The application form: validated as `POST /candidates`; errors beside their fields."""
    values = {field: form.get(field, "").strip() for field in CANDIDATE_FIELDS}
    optional = {"bio", "photo_url"}
    fields = {k: v for k, v in values.items() if v or k not in optional}
    try:
        body = CandidateCreate.model_validate(fields)
    except ValidationError as exc:
        # Every field's problem at once, the age (checked on the app's clock) included.
        found = [*exc.errors(include_url=False), *age_errors(values["birth_date"], now.date())]
        return _application_page(request, values, candidate_field_errors(found), 422)
    try:
        candidates.apply(body, session, now)
    except Invalid as exc:
        assert isinstance(exc.detail, list)
        return _application_page(request, values, candidate_field_errors(exc.detail), 422)
    except DuplicateEmail:
        errors = {"email": FieldError("Já existe uma inscrição com este e-mail.")}
        return _application_page(request, values, errors, status_code=409)
    return RedirectResponse("/inscricao/enviada", status_code=303)


@public.get("/inscricao/enviada")
def application_sent(request: Request) -> Response:
    return render_page(request, "inscricao_enviada.html")
