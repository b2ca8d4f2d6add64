"""`python main.py serve` as an operator runs it, with two worker processes: `/metrics` adds
up both workers' counters, and its JSON log never holds a CPF, a token, a captcha or a cookie.
"""

import asyncio
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ADMIN, ADMIN_TOKEN, solve_captcha
from tests.support.paredoes import make_paredao, nominee_ids
from tests.support.server import LiveServer

VOTER_CPF = "529.982.247-25"  # valid check digits
WORKERS = 2
VOTE_ROUTE = "/paredoes/{paredao_id}/votes"


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, migrated_template: Path
) -> Iterator[LiveServer]:
    """`python main.py serve` with 2 workers, from a folder of its own (no `.env` there)."""
    folder = tmp_path_factory.mktemp("serve")
    shutil.copyfile(migrated_template, folder / "paredao.db")
    server = LiveServer(
        f"sqlite:///{folder / 'paredao.db'}", folder, {"PAREDAO_CAPTCHA_MAX_NUMBER": "2000"}
    )
    (server.metrics_dir / "counter_999999999.db").write_bytes(b"left by an earlier run")
    server.start()
    try:
        yield server
    finally:
        if server.stop() is None:
            server.kill()


async def new_paredao(url: str, require_captcha: bool) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as api:
        return await make_paredao(api, 2, require_captcha=require_captcha)


def votes_taken_by_process(metrics_dir: Path) -> dict[int, float]:
    """Each process's own count of votes answered 202, from its file in the metrics
    directory (a worker counts the requests it answered there)."""
    taken = {}
    for path in metrics_dir.glob("counter_*.db"):
        families = MultiProcessCollector.merge([str(path)], accumulate=True)  # type: ignore[no-untyped-call]
        taken[int(path.stem.rsplit("_", 1)[1])] = sum(
            s.value
            for family in families
            for s in family.samples
            if s.name == "paredao_http_requests_total"
            and s.labels.get("route") == VOTE_ROUTE
            and s.labels.get("status") == "202"
        )
    return taken


async def until_taken(
    server: LiveServer, before: dict[int, float], count: int, timeout_s: float = 30
) -> dict[int, float]:
    """Wait until the workers' own counts of votes taken since `before` add up to `count`
    (a worker counts a request as its answer goes out); those counts, by worker."""
    give_up = time.monotonic() + timeout_s
    while True:
        now = votes_taken_by_process(server.metrics_dir)
        by_worker = {pid: n - before.get(pid, 0.0) for pid, n in now.items()}
        by_worker = {pid: n for pid, n in by_worker.items() if n}
        if sum(by_worker.values()) >= count:
            assert sum(by_worker.values()) == count, by_worker
            return by_worker
        assert time.monotonic() < give_up, f"{count} votes not counted: {by_worker}"
        await asyncio.sleep(0.05)


async def until_logged(server: LiveServer, request_ids: set[str], timeout_s: float = 30) -> None:
    """Wait until the server's log holds a line of each of these requests."""
    give_up = time.monotonic() + timeout_s
    while True:
        logged = {
            line.get("request_id") for line in server.logged() if line["logger"] == "paredao.access"
        }
        if request_ids <= logged:
            return
        assert time.monotonic() < give_up, f"never logged: {sorted(request_ids - logged)}"
        await asyncio.sleep(0.05)


def counted_votes(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "paredao_votes_total" and s.labels["outcome"] == "counted"
    )


class TestMetricsAcrossWorkers:
    def test_stale_files_of_an_earlier_run_are_removed(self, served: LiveServer) -> None:
        assert not (served.metrics_dir / "counter_999999999.db").exists()

    async def test_every_scrape_adds_up_both_workers(self, served: LiveServer) -> None:
        p = await new_paredao(served.url, require_captcha=False)
        nominee = nominee_ids(p)[0]
        before = counted_votes(served.url)
        taken_before = votes_taken_by_process(served.metrics_dir)

        async def one_vote(i: int) -> int:
            # A connection each, so the kernel spreads them over both workers' accept().
            async with httpx.AsyncClient(base_url=served.url, timeout=30) as http:
                body = {"nominee_id": nominee, "mode": "torcida", "voter_id": f"v{i}"}
                return (await http.post(f"/paredoes/{p['id']}/votes", json=body)).status_code

        # The kernel hands each connection to one worker's accept(): rounds of 60 until both
        # have taken some (the first round nearly always does).
        sent = 0
        for _ in range(10):
            codes = await asyncio.gather(*(one_vote(sent + i) for i in range(60)))
            assert set(codes) == {202}
            sent += 60
            by_worker = await until_taken(served, taken_before, sent)
            if len(by_worker) == WORKERS:
                break
        assert len(by_worker) == WORKERS, f"both workers should have taken votes: {by_worker}"
        assert served.process is not None and served.process.pid not in by_worker
        async with httpx.AsyncClient(base_url=served.url, timeout=10) as http:
            stats = (await http.get(f"/paredoes/{p['id']}/stats", headers=ADMIN)).json()
        assert stats["total_votes"] == sent
        # Whichever worker answers the scrape, it reports every worker's votes.
        for _ in range(10):
            async with httpx.AsyncClient(base_url=served.url, timeout=10) as fresh:
                text = (await fresh.get("/metrics")).text
            got = sum(
                s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
                if s.name == "paredao_votes_total" and s.labels["outcome"] == "counted"
            )
            assert got - before == sent


class TestLogs:
    async def test_no_cpf_token_captcha_or_cookie_in_any_line(self, served: LiveServer) -> None:
        p = await new_paredao(served.url, require_captcha=True)
        nominee = nominee_ids(p)[0]
        async with httpx.AsyncClient(base_url=served.url, timeout=30) as http:
            token = await solve_captcha(http, p["id"])
            body = {
                "nominee_id": nominee,
                "mode": "unico",
                "voter_id": "phone-1",
                "cpf": VOTER_CPF,
                "captcha_token": token,
            }
            r = await http.post(
                f"/paredoes/{p['id']}/votes", json=body, headers={"X-Request-ID": "vote-req-1"}
            )
            assert r.status_code == 202, r.text
            assert r.headers["X-Request-ID"] == "vote-req-1"
            # The same CPF and the spent captcha again (409/403), a CPF in a query string, a
            # wrong token, the production login (a session cookie) and a page with it.
            tagged = {"X-Request-ID": "log-again"}
            again = await http.post(f"/paredoes/{p['id']}/votes", json=body, headers=tagged)
            assert again.status_code in (403, 409), again.text
            await http.get(
                f"/paredoes?cpf={VOTER_CPF}&token={ADMIN_TOKEN}", headers={"X-Request-ID": "log-q"}
            )
            wrong = {"Authorization": "Bearer wrong-token-12345", "X-Request-ID": "log-wrong"}
            await http.get("/candidates", headers=wrong)
            await http.get("/candidates", headers={**ADMIN, "X-Request-ID": "log-admin"})
            login = await http.post(
                "/producao/login", data={"token": ADMIN_TOKEN}, headers={"X-Request-ID": "log-in"}
            )
            assert login.status_code in (200, 303), login.text
            cookies = [c for c in http.cookies.jar]
            assert cookies, "the production login should set its session cookie"
            await http.get(f"/producao/paredoes/{p['id']}", headers={"X-Request-ID": "log-page"})
            # A request id that is a CPF is not passed on, nor written in the request's line.
            cpf_id = VOTER_CPF.replace(".", "").replace("-", "")
            as_id = await http.get("/candidates", headers={"X-Request-ID": cpf_id})
            assert as_id.headers["X-Request-ID"] != cpf_id
        # Each worker writes a request's line as it answers: wait for every one of them.
        await until_logged(
            served,
            {"vote-req-1", "log-again", "log-q", "log-wrong", "log-admin", "log-in", "log-page"},
        )

        log = served.log()
        digits = VOTER_CPF.replace(".", "").replace("-", "")
        secrets = {
            "the CPF (masked)": VOTER_CPF,
            "the CPF (digits)": digits,
            "the admin token": ADMIN_TOKEN,
            "the captcha token": token,
            "the captcha token's start": token[:24],
            **{f"cookie {c.name}": c.value for c in cookies if c.value and len(c.value) >= 8},
        }
        found = [what for what, value in secrets.items() if value in log]
        assert not found, f"{found} appear in the server's log"

        lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
        other = [line for line in log.splitlines() if line and not line.startswith("{")]
        # Only what `serve` prints before uvicorn starts is not JSON.
        assert all(line.startswith(("Admin token", "Paredão API")) for line in other), other
        vote_line = next(line for line in lines if line.get("request_id") == "vote-req-1")
        assert vote_line["route"] == "/paredoes/{paredao_id}/votes"
        assert (vote_line["method"], vote_line["status"]) == ("POST", 202)
        assert vote_line["duration_ms"] > 0
        requests = [line for line in lines if line["logger"] == "paredao.access"]
        assert all(line["request_id"] for line in requests)
        assert not [line for line in requests if "?" in line["route"]]
