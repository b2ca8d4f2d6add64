"""Answering with a web page: the app's templates and clock (`app_services`) given to
`views.web.rendering`."""

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from starlette.responses import HTMLResponse

from services.app_services import app_services
from views.web.rendering import page_response


def render_page(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """The page `template` with `context`, the server's time in it."""
    services = app_services(request.app)
    return page_response(
        services.templates,
        request,
        template,
        context,
        now=services.clock(),
        status_code=status_code,
        headers=headers,
    )
