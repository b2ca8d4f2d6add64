"""A real server and a real browser: uvicorn on a loopback port with a migrated SQLite file,
and Debian's Chromium driven by Playwright. Without Chromium or Playwright these tests skip
(with the reason), except in CI, where they fail."""

import importlib
import itertools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, NoReturn

import httpx
import pytest

from db.migrate import upgrade_to_head
from tests.conftest import ADMIN, ADMIN_TOKEN, SECRET_KEY, application
from tests.support.environment import unavailable
from tests.support.nginx import nginx_in_front
from tests.support.uvicorn import UvicornApp

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, ViewportSize

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
DESKTOP: "ViewportSize" = {"width": 1280, "height": 800}
PHONE: "ViewportSize" = {"width": 390, "height": 844}
CAPTCHA_MAX_NUMBER = 5000


def _unavailable(reason: str) -> NoReturn:
    """Skip locally, saying why; in CI (CI=true) the same reason fails the run."""
    unavailable(f"browser tests cannot run: {reason} (run deploy/browser/install.sh)")


def playwright_api() -> ModuleType:
    """`playwright.sync_api`, or a skip (a failure in CI) when the package is missing."""
    try:
        return importlib.import_module("playwright.sync_api")
    except ImportError:
        _unavailable("the Python package 'playwright' is not installed")


@pytest.fixture(scope="module")
def browser() -> Iterator["Browser"]:
    """Headless Chromium (Debian's), closed at the end of the module."""
    sync_playwright = playwright_api().sync_playwright
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


AVATAR = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 200">
<rect width="200" height="200" fill="{bg}"/>
<circle cx="100" cy="80" r="42" fill="#f2c9a0"/>
<path d="M30 200c8-50 40-72 70-72s62 22 70 72z" fill="{shirt}"/>
<path d="M58 70c4-34 80-34 84 0-10-14-30-20-42-20s-32 6-42 20z" fill="#3b2416"/>
</svg>"""


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A tiny photo host on loopback, standing in for wherever candidates keep their photos."""
    folder = tmp_path_factory.mktemp("photos")
    palette = [("#ffd6e7", "#d6246e"), ("#d9e6ff", "#2f6fed"), ("#ffe9c2", "#e08a00")]
    for i, (bg, shirt) in enumerate(palette):
        (folder / f"{i}.svg").write_text(AVATAR.format(bg=bg, shirt=shirt))
    handler = partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


@dataclass
class LiveServer:
    url: str
    api: httpx.Client
    photos: str
    counter: "itertools.count[int]"

    def housemates(self, names: list[str], *, with_photos: bool = True) -> list[int]:
        """Apply and promote one housemate per name; every second one has no photo."""
        ids = []
        for i, name in enumerate(names):
            n = next(self.counter)
            photo = f"{self.photos}/{i % 3}.svg" if with_photos and i % 2 == 0 else None
            r = self.api.post(
                "/candidates",
                json=application(name=name, email=f"browser{n}@example.com", photo_url=photo),
            )
            assert r.status_code == 201, r.text
            cid = r.json()["id"]
            r = self.api.patch(f"/candidates/{cid}", json={"status": "housemate"}, headers=ADMIN)
            assert r.status_code == 200, r.text
            ids.append(cid)
        return ids

    def open_paredao(self, title: str, names: list[str], **fields: Any) -> dict[str, Any]:
        """A paredão of new housemates that closes in 2 days and 3½ hours, opened now (the
        half hour keeps "2 dias e 3 h" on the page however slow the machine is)."""
        closes_at = datetime.now(UTC) + timedelta(days=2, hours=3, minutes=30)
        body = {
            "title": title,
            "kind": "eliminate",
            "nominee_ids": self.housemates(names),
            "closes_at": closes_at.isoformat(),
            **fields,
        }
        r = self.api.post("/paredoes", json=body, headers=ADMIN)
        assert r.status_code == 201, r.text
        r = self.api.post(f"/paredoes/{r.json()['id']}/open", headers=ADMIN)
        assert r.status_code == 200, r.text
        paredao: dict[str, Any] = r.json()
        return paredao


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, photos: str) -> Iterator[LiveServer]:
    """The app under uvicorn, as `make run` serves it, on its own migrated SQLite file."""
    with serve_live(tmp_path_factory.mktemp("live"), photos) as server:
        yield server


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a test server process: the test's own values over the process's."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "PAREDAO_ADMIN_TOKEN": ADMIN_TOKEN,
        "PAREDAO_SECRET_KEY": SECRET_KEY,
        "PAREDAO_RESULTS_CACHE_S": "0",
        "PAREDAO_CAPTCHA_MAX_NUMBER": str(CAPTCHA_MAX_NUMBER),
        **extra,
    }


@contextmanager
def serve_live(folder: Path, photos: str, **extra_env: str) -> Iterator[LiveServer]:
    """Serve the app from `folder` (its database and log) with `extra_env` on top."""
    database_url = f"sqlite:///{folder / 'paredao.db'}"
    upgrade_to_head(database_url)
    env = server_env(database_url, **extra_env)
    app = UvicornApp(env, folder / "server.log", "--no-access-log")
    try:
        app.wait_ready()
        with (
            through_nginx(app.port) as url,
            httpx.Client(base_url=url, timeout=30) as api,
        ):
            yield LiveServer(url, api, photos, itertools.count())
    finally:
        app.stop()


@contextmanager
def through_nginx(api_port: int) -> Iterator[str]:
    """The URL the browser uses: the server's own, or, with PAREDAO_BROWSER_THROUGH_NGINX=1,
    NGINX's (deploy/nginx/start.sh) in front of it: static files, the results micro-cache,
    the vote rate limit and the request id as in production."""
    if os.environ.get("PAREDAO_BROWSER_THROUGH_NGINX") != "1":
        yield f"http://127.0.0.1:{api_port}"
        return
    with nginx_in_front([api_port]) as proxy:
        yield proxy.url


@pytest.fixture
def page(browser: "Browser", live: LiveServer) -> Iterator["Page"]:
    """A fresh browser context (own storage and cookies) at desktop size."""
    context = browser.new_context(viewport=DESKTOP, locale="pt-BR", base_url=live.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # Anything the pages' Content-Security-Policy blocked would be a page that half works.
    page.on(
        "console",
        lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    yield page
    context.close()
    assert not errors, f"JavaScript or CSP errors on the page: {errors}"


def snap(page: "Page", name: str) -> None:
    """Save the page at desktop and at phone width into artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.wait_for_timeout(100)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(DESKTOP)
