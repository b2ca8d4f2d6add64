"""The API's documentation pages with the network cut off: every request to a host other than
the test server is aborted, as on a machine without internet, and /docs (Swagger UI) and
/redoc must still render the operations from what the app itself serves."""

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import LiveServer, playwright_api, snap

if TYPE_CHECKING:
    from playwright.sync_api import Page, Request, Response, Route

expect = playwright_api().expect  # skips this module (fails it in CI) without Playwright

# Never leave the browser: inline images, and the Web Worker ReDoc may start from a blob.
LOCAL_SCHEMES = {"data", "blob"}
# ReDoc 2 always draws an "API docs by Redocly" badge in its menu, whose logo comes from its
# CDN and is hidden when it cannot load: the one outside request the page makes, for nothing
# the page needs.
REDOC_BADGE_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@dataclass
class Offline:
    """What the page tried to load from elsewhere (aborted), and what failed on the server."""

    blocked: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def assert_all_served_locally(
        self, page: "Page", *, cosmetic: frozenset[str] = frozenset()
    ) -> None:
        """Once the page is done loading: nothing but `cosmetic` was asked of another host,
        and everything asked of the server was answered."""
        page.wait_for_load_state("networkidle")
        outside = [url for url in self.blocked if url not in cosmetic]
        assert outside == [], f"the page tried to load from another host: {outside}"
        assert self.failed == [], f"requests to the server failed: {self.failed}"


@pytest.fixture
def offline(page: "Page", live: LiveServer) -> Offline:
    """Abort every request that is not to the test server, and record it; record every
    request to the test server that failed or answered an error."""
    server = urlsplit(live.url)
    seen = Offline()

    def route(route: "Route") -> None:
        url = urlsplit(route.request.url)
        if url.scheme in LOCAL_SCHEMES or (url.scheme, url.netloc) == (
            server.scheme,
            server.netloc,
        ):
            route.continue_()
        else:
            seen.blocked.append(route.request.url)
            route.abort("internetdisconnected")

    def on_response(response: "Response") -> None:
        if response.status >= 400:
            seen.failed.append(f"{response.status} {response.url}")

    def on_failure(request: "Request") -> None:
        if request.url not in seen.blocked:
            seen.failed.append(f"{request.failure} {request.url}")

    page.route("**/*", route)
    page.on("response", on_response)
    page.on("requestfailed", on_failure)
    return seen


def test_swagger_ui_renders_the_operations(page: "Page", offline: Offline) -> None:
    page.goto("/docs")
    cast_vote = page.locator(
        ".opblock-post",
        has=page.locator('.opblock-summary-path[data-path="/paredoes/{paredao_id}/votes"]'),
    )
    expect(cast_vote).to_be_visible()
    expect(cast_vote.locator(".opblock-summary-description")).to_have_text("Cast a vote")
    # Styled by its own stylesheet: a POST operation is drawn on Swagger UI's green.
    expect(cast_vote).to_have_css("border-color", "rgb(73, 204, 144)")
    offline.assert_all_served_locally(page)
    snap(page, "docs-swagger")


def test_redoc_renders_the_operations(page: "Page", offline: Offline) -> None:
    page.goto("/redoc")
    # An operation's heading also holds its anchor link, whose name comes first.
    for summary in ("Cast a vote", "Apply to join the house"):
        heading = page.get_by_role("heading", level=2, name=re.compile(rf" {summary}$"))
        expect(heading).to_be_visible()
    offline.assert_all_served_locally(page, cosmetic=frozenset({REDOC_BADGE_LOGO}))
    expect(page.get_by_alt_text("redocly logo")).to_have_count(0)  # hidden, not broken
    snap(page, "docs-redoc")
