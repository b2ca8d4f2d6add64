"""NGINX in front of two real API processes, started by deploy/nginx/start.sh.

The API processes run exactly as in production (uvicorn --proxy-headers, trusting only
127.0.0.1) on a fresh SQLite file. Without NGINX installed (deploy/nginx/install.sh installs
it) the tests are skipped locally and fail in CI (CI=true), where it must be there.
"""

import asyncio
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from db.migrate import upgrade_to_head
from tests.conftest import ADMIN, ADMIN_TOKEN, SECRET_KEY, application
from tests.support.api import assert_api_error
from tests.support.environment import unavailable
from tests.support.nginx import Proxy, nginx_in_front
from tests.support.ports import free_port
from tests.support.uvicorn import UvicornApp

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def nginx_installed() -> None:
    if not (Path("/usr/sbin/nginx").exists() or shutil.which("nginx")):
        unavailable("nginx is not installed: run deploy/nginx/install.sh (apt nginx-light)")


@pytest.fixture(scope="module")
def apis(
    nginx_installed: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[UvicornApp, UvicornApp]]:
    """Two API processes on one freshly migrated SQLite file."""
    folder = tmp_path_factory.mktemp("nginx-apis")
    url = f"sqlite:///{folder / 'paredao.db'}"
    upgrade_to_head(url)
    env = {
        "DATABASE_URL": url,
        "PAREDAO_ADMIN_TOKEN": ADMIN_TOKEN,
        "PAREDAO_SECRET_KEY": SECRET_KEY,
        "PAREDAO_RESULTS_CACHE_S": "0",  # so NGINX's micro-cache is the only one
    }
    # Run as deploy/stack/up.sh runs them: trusting the forwarded headers of NGINX alone.
    proxied = ("--proxy-headers", "--forwarded-allow-ips", "127.0.0.1")
    a, b = (UvicornApp(env, folder / f"api-{name}.log", *proxied) for name in "ab")
    try:
        a.wait_ready()
        b.wait_ready()
        yield a, b
    finally:
        a.stop()
        b.stop()


@pytest.fixture(scope="module")
def proxy(apis: tuple[UvicornApp, UvicornApp]) -> Iterator[Proxy]:
    """NGINX with the production limits."""
    with nginx_in_front(api.port for api in apis) as running:
        yield running


@pytest.fixture(scope="module")
def strict_proxy(apis: tuple[UvicornApp, UvicornApp]) -> Iterator[Proxy]:
    """NGINX with a tiny vote limit: 1 vote a second per address, 2 more at once."""
    with nginx_in_front(
        (api.port for api in apis), PAREDAO_VOTE_RATE="1r/s", PAREDAO_VOTE_BURST="2"
    ) as running:
        yield running


@pytest.fixture
def paredao(apis: tuple[UvicornApp, UvicornApp]) -> dict[str, Any]:
    """A new open paredão without captcha, made on the API directly."""
    api = apis[0].url
    ids = []
    for i in range(2):
        body = application(name=f"Brother {i}", email=f"{uuid.uuid4().hex}@example.com")
        r = httpx.post(f"{api}/candidates", json=body, timeout=10)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
        r = httpx.patch(
            f"{api}/candidates/{ids[-1]}", json={"status": "housemate"}, headers=ADMIN, timeout=10
        )
        assert r.status_code == 200, r.text
    body = {"title": "P", "kind": "eliminate", "nominee_ids": ids, "require_captcha": False}
    r = httpx.post(f"{api}/paredoes", json=body, headers=ADMIN, timeout=10)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    r = httpx.post(f"{api}/paredoes/{created['id']}/open", headers=ADMIN, timeout=10)
    assert r.status_code == 200, r.text
    return created


def vote_body(paredao: dict[str, Any], voter_id: str = "voter-1") -> dict[str, Any]:
    nominee = paredao["nominees"][0]["candidate_id"]
    return {"nominee_id": nominee, "mode": "torcida", "voter_id": voter_id}


def client(proxy: Proxy) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=proxy.url, timeout=10)


class TestThroughNginx:
    async def test_vote_is_202_and_counted_in_results(
        self, proxy: Proxy, paredao: dict[str, Any]
    ) -> None:
        pid = paredao["id"]
        async with client(proxy) as http:
            r = await http.post(
                f"/paredoes/{pid}/votes",
                json=vote_body(paredao),
                headers={"X-Request-ID": "req-from-client"},
            )
            assert r.status_code == 202, r.text
            assert r.headers["X-Request-ID"] == "req-from-client"
            # The micro-cache may answer with a read up to ~1 s old: wait for a fresh one.
            deadline = time.monotonic() + 5
            total = None
            while time.monotonic() < deadline:
                total = (await http.get(f"/paredoes/{pid}/results")).json()["total_votes"]
                if total == 1:
                    break
                await asyncio.sleep(0.2)
            assert total == 1

    async def test_request_id_is_made_when_the_client_sends_none(self, proxy: Proxy) -> None:
        async with client(proxy) as http:
            r = await http.get("/paredoes")
        assert r.status_code == 200
        assert len(r.headers["X-Request-ID"]) == 32  # NGINX's $request_id: 16 random bytes, hex

    async def test_two_results_reads_within_a_second_hit_the_micro_cache(
        self, proxy: Proxy, paredao: dict[str, Any]
    ) -> None:
        async with client(proxy) as http:
            first = await http.get(f"/paredoes/{paredao['id']}/results")
            second = await http.get(f"/paredoes/{paredao['id']}/results")
        assert (first.status_code, second.status_code) == (200, 200)
        assert first.headers["X-Cache-Status"] == "MISS"
        assert second.headers["X-Cache-Status"] == "HIT"
        assert second.json() == first.json()

    async def test_static_files_are_served_by_nginx_with_long_cache(
        self, proxy: Proxy, apis: tuple[UvicornApp, UvicornApp]
    ) -> None:
        probe = uuid.uuid4().hex
        async with client(proxy) as http:
            r = await http.get(
                f"/static/css/paredao.css?probe={probe}", headers={"Accept-Encoding": "gzip"}
            )
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("text/css")
        assert r.headers["Content-Encoding"] == "gzip"
        max_age = r.headers["Cache-Control"].split("max-age=")[1].split(",")[0]
        assert int(max_age) >= 86400
        assert r.text == (ROOT / "views/static/css/paredao.css").read_text()
        await asyncio.sleep(0.2)  # let an API log the request, were it the one serving it
        assert all(probe not in api.log() for api in apis)

    async def test_metrics_are_not_reachable(self, proxy: Proxy) -> None:
        async with client(proxy) as http:
            for path in ("/metrics", "/metrics/", "/metrics?x=1"):
                r = await http.get(path)
                assert r.status_code == 403, path
                assert r.json()["error"] == "forbidden"


class TestNginxErrors:
    async def test_body_over_the_limit_is_413_in_the_api_error_shape(
        self, proxy: Proxy, paredao: dict[str, Any]
    ) -> None:
        body = {**vote_body(paredao), "padding": "x" * 100_000}
        async with client(proxy) as http:
            r = await http.post(f"/paredoes/{paredao['id']}/votes", json=body)
        assert_api_error(r, 413, "payload_too_large", {"Content-Type": "application/json"})

    async def test_votes_over_the_address_limit_are_429_with_retry_after(
        self, strict_proxy: Proxy, paredao: dict[str, Any]
    ) -> None:
        async with client(strict_proxy) as http:
            answers = [
                await http.post(
                    f"/paredoes/{paredao['id']}/votes", json=vote_body(paredao, f"v{i}")
                )
                for i in range(10)
            ]
        codes = [r.status_code for r in answers]
        assert codes[0] == 202, codes
        assert 429 in codes, codes
        assert set(codes) == {202, 429}, codes
        refused = next(r for r in answers if r.status_code == 429)
        assert_api_error(refused, 429, "rate_limited", {"Retry-After": "1"})

    async def test_rate_limit_spares_reads(
        self, strict_proxy: Proxy, paredao: dict[str, Any]
    ) -> None:
        async with client(strict_proxy) as http:
            for _ in range(10):
                r = await http.get(f"/paredoes/{paredao['id']}")
                assert r.status_code == 200

    async def test_no_api_answering_is_502_in_the_api_error_shape(
        self, nginx_installed: None
    ) -> None:
        nobody = free_port()  # nothing listens there
        with nginx_in_front([nobody]) as dead:
            async with client(dead) as http:
                r = await http.get("/paredoes")
        assert r.status_code == 502
        assert r.headers["Retry-After"] == "1"
        assert r.json()["error"] == "bad_gateway"


class TestForwardedAddress:
    async def test_a_client_x_forwarded_for_never_reaches_the_api(
        self, proxy: Proxy, apis: tuple[UvicornApp, UvicornApp]
    ) -> None:
        """uvicorn trusts X-Forwarded-For from 127.0.0.1 (where NGINX is), so NGINX must replace
        what a client sends. Seen in the API's access log, which names the client address."""
        spoofed = {"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9"}
        through_proxy, direct = uuid.uuid4().hex, uuid.uuid4().hex
        async with client(proxy) as http:
            assert (await http.get(f"/paredoes?probe={through_proxy}", headers=spoofed)).is_success
        async with httpx.AsyncClient(base_url=apis[0].url, timeout=10) as http:
            assert (await http.get(f"/paredoes?probe={direct}", headers=spoofed)).is_success

        lines = {through_proxy: "", direct: ""}
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not all(lines.values()):
            for line in "\n".join(api.log() for api in apis).splitlines():
                for probe in lines:
                    if probe in line:
                        lines[probe] = line
            await asyncio.sleep(0.1)
        assert all(lines.values()), f"the API's access log has no line for the probes: {lines}"
        # Direct, the spoofed header is believed (the caller is the trusted 127.0.0.1) ...
        assert "203.0.113.9" in lines[direct]
        # ... through NGINX the API sees NGINX's own view of the client.
        assert "203.0.113.9" not in lines[through_proxy]
        assert "127.0.0.1" in lines[through_proxy]

    async def test_start_again_reloads_in_place(self, proxy: Proxy) -> None:
        pid_file = proxy.run_dir / "nginx.pid"
        before = pid_file.read_text()
        again = proxy.script("start.sh")
        assert again.returncode == 0, again.stderr
        assert "reloading" in again.stderr
        assert pid_file.read_text() == before
        async with client(proxy) as http:
            assert (await http.get("/paredoes")).status_code == 200
