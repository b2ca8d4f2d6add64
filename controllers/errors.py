"""One JSON rendering for every error: `{"error": <code>, "detail": <message>}`; and, for the
web pages, one HTML rendering of the same error."""

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response

from controllers.render import render_page
from model.errors import DomainError
from views.web.wording import ERROR_TITLES, page_error_message


def _code_for(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def render_domain_error(exc: DomainError) -> JSONResponse:
    return JSONResponse(
        {"error": exc.code, "detail": jsonable_encoder(exc.detail)},
        status_code=exc.status_code,
        headers=exc.headers,
    )


def wants_html(request: Request) -> bool:
    """Whether an error is answered as a page: it came from a page route (one whose route
    says `renders_html`), or no route matched and the client asked for HTML (a browser)."""
    route = request.scope.get("route")
    if route is not None:
        return bool(getattr(route, "renders_html", False))
    return "text/html" in request.headers.get("accept", "")


def render_html_error(
    request: Request,
    status_code: int,
    code: str,
    detail: Any,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The error page: a Portuguese sentence for the error code, and the API's own message."""
    headers = dict(headers or {})
    headers.pop("WWW-Authenticate", None)  # a page asks for a login form, not a bearer token
    message = page_error_message(code, detail, headers.get("Retry-After"))
    if isinstance(detail, list):
        detail = "; ".join(str(e.get("msg", e)) if isinstance(e, dict) else str(e) for e in detail)
    context = {
        "status_code": status_code,
        "title": ERROR_TITLES.get(status_code, "Algo deu errado"),
        "message": message,
        "detail": detail if isinstance(detail, str) and detail != message else None,
        "code": code,
    }
    return render_page(request, "error.html", context, status_code=status_code, headers=headers)


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    if wants_html(request):
        return render_html_error(request, exc.status_code, exc.code, exc.detail, exc.headers)
    return render_domain_error(exc)


async def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    detail = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    if wants_html(request):
        return render_html_error(request, 422, "validation_error", detail)
    return JSONResponse({"error": "validation_error", "detail": detail}, status_code=422)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _code_for(exc.status_code)
    if wants_html(request):
        return render_html_error(request, exc.status_code, code, exc.detail, exc.headers)
    return JSONResponse(
        {"error": code, "detail": exc.detail},
        status_code=exc.status_code,
        headers=exc.headers,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
