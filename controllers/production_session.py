"""The production team's session: log in with the admin token, log out, and the
dependencies that guard the production pages (a signed cookie, and a CSRF token per form)."""

import asyncio
import hmac
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from config import Settings
from controllers.deps import EngineDep, NowDep, SessionDep, SettingsDep
from controllers.page_errors import CSRFFailed, LoginRequired
from controllers.pages import FormDep, PageRoute
from controllers.render import render_page
from services import audit
from services.producer_session import (
    SESSION_COOKIE,
    SESSION_TTL,
    ProducerSession,
    is_logged_out,
    log_out,
    new_session,
    read_session,
    sign_session,
)

router = APIRouter(prefix="/producao", route_class=PageRoute, include_in_schema=False)


async def producer_session(
    request: Request, settings: SettingsDep, now: NowDep, engine: EngineDep
) -> ProducerSession | None:
    """The producer's session from its signed cookie, or None (absent, forged, expired, or
    logged out)."""
    if settings.admin_token is None:
        return None
    producer = read_session(
        request.cookies.get(SESSION_COOKIE),
        settings.keys.session,
        settings.admin_token.get_secret_value(),
        now,
    )
    if producer is None or await asyncio.to_thread(is_logged_out, engine, producer):
        return None
    return producer


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


async def producer_actor(producer: CSRFDep, settings: SettingsDep) -> str:
    """Who acts through a production form, for the audit log: `session:` + a fingerprint."""
    return audit.session_actor(settings.keys.audit, producer.session_id)


ProducerActorDep = Annotated[str, Depends(producer_actor)]


def _safe_next(target: str | None) -> str:
    """Where to go after logging in: only a production page of this site."""
    if target and target.startswith("/producao") and "//" not in target and "\\" not in target:
        return target
    return "/producao"


def login_redirect(request: Request) -> Response:
    """To the login page, coming back to this page after."""
    return RedirectResponse(f"/producao/login?next={quote(request.url.path)}", status_code=303)


@router.get("/login")
def login_form(
    request: Request, next_page: Annotated[str | None, Query(alias="next")] = None
) -> Response:
    return render_page(request, "producao_login.html", {"next": _safe_next(next_page)})


@router.post("/login")
def login(
    request: Request, form: FormDep, settings: SettingsDep, now: NowDep, session: SessionDep
) -> Response:
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
    producer = new_session(now)
    actor = audit.session_actor(settings.keys.audit, producer.session_id)
    audit.record(session, actor, "production.login", actor, now)
    response = RedirectResponse(target, status_code=303)
    _set_session_cookie(request, response, settings, producer)
    return response


def _set_session_cookie(
    request: Request, response: Response, settings: Settings, producer: ProducerSession
) -> None:
    assert settings.admin_token is not None
    response.set_cookie(
        SESSION_COOKIE,
        sign_session(producer, settings.keys.session, settings.admin_token.get_secret_value()),
        max_age=int(SESSION_TTL.total_seconds()),
        path="/producao",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


@router.post("/sair")
def logout(
    producer: CSRFDep, session: SessionDep, actor: ProducerActorDep, now: NowDep
) -> Response:
    """End the session on the server too: its cookie, or any copy of it, is refused after."""
    log_out(session, producer)
    audit.record(session, actor, "production.logout", actor, now)
    response = RedirectResponse("/producao/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/producao", httponly=True, samesite="strict")
    return response
