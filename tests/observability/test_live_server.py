"""`python main.py serve` as an operator runs it, with two worker processes: `/metrics` adds
up both workers' counters, and its JSON log never holds a CPF, a token, a captcha or a cookie.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from db.migrate import upgrade_to_head
from tests.conftest import ADMIN, ADMIN_TOKEN, SECRET_KEY, application, solve_captcha
from tests.test_replicas import free_port

ROOT = Path(__file__).resolve().parents[2]
VOTER_CPF = "529.982.247-25"  # valid check digits
WORKERS = 2


@dataclass
class Served:
    url: str
    log_path: Path
    metrics_dir: Path
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`python main.py serve` with 2 workers, from a folder of its own (no `.env` there)."""
    folder = tmp_path_factory.mktemp("serve")
    database_url = f"sqlite:///{folder / 'paredao.db'}"
    upgrade_to_head(database_url)
    metrics_dir = folder / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999999.db").write_bytes(b"left by an earlier run")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PAREDAO_", "KAFKA"))},
        "DATABASE_URL": database_url,
        "PAREDAO_ADMIN_TOKEN": ADMIN_TOKEN,
        "PAREDAO_SECRET_KEY": SECRET_KEY,
        "PAREDAO_PORT": str(port),
        "PAREDAO_WORKERS": str(WORKERS),
        "PAREDAO_RESULTS_CACHE_S": "0",
        "PAREDAO_CAPTCHA_MAX_NUMBER": "2000",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    log_path = folder / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "main.py"), "serve"],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log_path)
        yield Served(url, log_path, metrics_dir, process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                time.sleep(1)  # the other worker too
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"python main.py serve did not start:\n{log.read_text()}")


def make_paredao(url: str, require_captcha: bool) -> dict[str, Any]:
    with httpx.Client(base_url=url, timeout=30) as api:
        ids = []
        for _ in range(2):
            tag = uuid.uuid4().hex[:8]
            r = api.post("/candidates", json=application(name=f"B {tag}", email=f"{tag}@ex.com"))
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
            r = api.patch(f"/candidates/{ids[-1]}", json={"status": "housemate"}, headers=ADMIN)
            assert r.status_code == 200, r.text
        body = {
            "title": "P",
            "kind": "eliminate",
            "nominee_ids": ids,
            "require_captcha": require_captcha,
        }
        r = api.post("/paredoes", json=body, headers=ADMIN)
        assert r.status_code == 201, r.text
        r = api.post(f"/paredoes/{r.json()['id']}/open", headers=ADMIN)
        assert r.status_code == 200, r.text
        paredao: dict[str, Any] = r.json()
        return paredao


def counted_votes(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "paredao_votes_total" and s.labels["outcome"] == "counted"
    )


class TestMetricsAcrossWorkers:
    def test_stale_files_of_an_earlier_run_are_removed(self, served: Served) -> None:
        assert not (served.metrics_dir / "counter_999999999.db").exists()

    async def test_every_scrape_adds_up_both_workers(self, served: Served) -> None:
        p = make_paredao(served.url, require_captcha=False)
        nominee = p["nominees"][0]["candidate_id"]
        before = counted_votes(served.url)

        async def one_vote(i: int) -> int:
            # A connection each, so the kernel spreads them over both workers' accept().
            async with httpx.AsyncClient(base_url=served.url, timeout=30) as http:
                body = {"nominee_id": nominee, "mode": "torcida", "voter_id": f"v{i}"}
                return (await http.post(f"/paredoes/{p['id']}/votes", json=body)).status_code

        codes = await asyncio.gather(*(one_vote(i) for i in range(60)))
        assert set(codes) == {202}
        pids = {int(f.stem.rsplit("_", 1)[1]) for f in served.metrics_dir.glob("counter_*.db")}
        workers = pids - {served.process.pid}  # the supervisor answers no request
        assert len(workers) == WORKERS, "both workers should have answered some votes"

        async with httpx.AsyncClient(base_url=served.url, timeout=10) as http:
            stats = (await http.get(f"/paredoes/{p['id']}/stats", headers=ADMIN)).json()
        assert stats["total_votes"] == 60
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
            assert got - before == 60


class TestLogs:
    async def test_no_cpf_token_captcha_or_cookie_in_any_line(self, served: Served) -> None:
        p = make_paredao(served.url, require_captcha=True)
        nominee = p["nominees"][0]["candidate_id"]
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
            again = await http.post(f"/paredoes/{p['id']}/votes", json=body)
            assert again.status_code in (403, 409), again.text
            await http.get(f"/paredoes?cpf={VOTER_CPF}&token={ADMIN_TOKEN}")
            await http.get("/candidates", headers={"Authorization": "Bearer wrong-token-12345"})
            await http.get("/candidates", headers=ADMIN)
            login = await http.post("/producao/login", data={"token": ADMIN_TOKEN})
            assert login.status_code in (200, 303), login.text
            cookies = [c for c in http.cookies.jar]
            assert cookies, "the production login should set its session cookie"
            await http.get(f"/producao/paredoes/{p['id']}")
        await asyncio.sleep(0.5)  # let the workers write their lines

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
