"""The pages' Jinja2 environment and how a page is answered: with the server's time in it and
the pages' Content-Security-Policy."""

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from model.ratelimit import TORCIDA_LIMIT
from views.web.formatting import (
    BRASILIA,
    NOMINEE_COLORS,
    format_brasilia,
    format_int,
    format_percent,
    format_votes,
    initials,
    iso_utc,
    time_left,
)
from views.web.wording import KIND_LABELS, STATUS_LABELS

VIEWS = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = VIEWS / "templates"
STATIC_DIR = VIEWS / "static"

# Pages load scripts, styles and workers only from this server; photos may come from anywhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' https: http: data:; style-src 'self'; "
    "script-src 'self'; worker-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'"
)


def make_templates() -> Jinja2Templates:
    """The Jinja2 environment of the pages, with the Portuguese formatting filters."""
    templates = Jinja2Templates(directory=TEMPLATES_DIR)
    env = templates.env
    env.filters.update(
        percent=format_percent,
        integer=format_int,
        votes=format_votes,
        brasilia=format_brasilia,
        iso=iso_utc,
        initials=initials,
    )
    env.globals.update(
        kind_labels=KIND_LABELS,
        status_labels=STATUS_LABELS,
        colors=NOMINEE_COLORS,
        time_left=time_left,
        brasilia_zone=BRASILIA,
        torcida_limit=TORCIDA_LIMIT,
    )
    return templates


def page_response(
    templates: Jinja2Templates,
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    now: datetime,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """A page from `template`, with the server's time `now` in it (the pages' countdowns
    count from it, not from the viewer's clock) and the pages' Content-Security-Policy."""
    response = templates.TemplateResponse(
        request,
        template,
        {"server_now": now, **(context or {})},
        status_code=status_code,
        headers={
            **(headers or {}),
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "Cache-Control": "no-store",
            "Vary": "Accept, Cookie",
        },
    )
    return response
