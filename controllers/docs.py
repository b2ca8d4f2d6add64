"""The API's documentation pages, `/docs` (Swagger UI) and `/redoc` (ReDoc), with their scripts,
styles and favicon served by the app itself: FastAPI's defaults load them from a CDN, which
leaves both pages blank on a network without internet. The assets are those that the
`fastapi-offline` package ships (pinned in requirements.txt), so upgrading them is a version
bump, not files copied into the repo.

The app is created with `docs_url=None, redoc_url=None` and calls `install_docs(app)`."""

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
# Under /docs rather than /static, so that it never depends on the order of the app's mounts.
ASSETS_URL = "/docs/assets"


def install_docs(app: FastAPI) -> None:
    """Mount the documentation assets and add the /docs, its OAuth2 redirect and /redoc pages."""
    openapi_url = app.openapi_url
    if openapi_url is None:
        raise ValueError("install_docs needs the OpenAPI schema: create the app with openapi_url")
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url
    app.mount(
        ASSETS_URL,
        StaticFiles(packages=[("fastapi_offline", "static")]),
        name="docs-assets",
    )

    # The URLs carry the root path, so the pages work behind a proxy that serves the app
    # under a prefix (`uvicorn --root-path`), as FastAPI's own docs pages do.
    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            oauth2_redirect_url=f"{root}{oauth2_redirect_url}" if oauth2_redirect_url else None,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    if oauth2_redirect_url:

        @app.get(oauth2_redirect_url, include_in_schema=False)
        async def swagger_ui_oauth2_redirect() -> HTMLResponse:
            return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,  # the fonts are one more CDN; ReDoc falls back to local ones
        )
