"""`make up` / `make down` (deploy/stack) on the Kafka path: PostgreSQL and the broker that are
already running (CI starts both), the migration, the topics, 2 API processes, the consumer and
NGINX as local processes; a vote cast through NGINX becomes `counted`.

The stack gets a database, topics, ports and a run directory of its own, so it never touches a
developer's `make up`. Without PostgreSQL, the broker or NGINX the test skips locally with the
reason and fails in CI (CI=true).
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ADMIN, ADMIN_TOKEN, SECRET_KEY, application
from tests.pipeline.conftest import BOOTSTRAP, broker_reachable
from tests.support.deploy import run_script, started
from tests.support.environment import unavailable

ROOT = Path(__file__).resolve().parents[2]
STACK_DIR = ROOT / "deploy" / "stack"
PG_PORT = int(os.environ.get("PGPORT_DEV", "55432"))
PG_ADMIN_URL = f"postgresql://paredao:paredao@127.0.0.1:{PG_PORT}/paredao"


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """`count` consecutive free ports (the API processes take consecutive ones)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            first = int(s.getsockname()[1])
        if first + count < 65000 and all(_free(first + i) for i in range(count)):
            return [first + i for i in range(count)]
    raise RuntimeError("no run of free ports")


@dataclass
class Stack:
    url: str
    api_ports: list[int]
    consumer_metrics: str
    run_dir: Path
    env: dict[str, str]

    def script(self, name: str) -> subprocess.CompletedProcess[str]:
        return run_script(STACK_DIR / name, self.env, timeout_s=300)


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """A database of its own on the running PostgreSQL, dropped afterwards."""
    name = f"stack_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        unavailable(f"no PostgreSQL on 127.0.0.1:{PG_PORT} (deploy/postgres/start.sh): {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield name
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def stack(database: str) -> Iterator[Stack]:
    if not (Path("/usr/sbin/nginx").exists() or shutil.which("nginx")):
        unavailable("nginx is not installed: run deploy/nginx/install.sh")
    if not broker_reachable():
        unavailable(f"no Kafka broker at {BOOTSTRAP}: deploy/kafka/start.sh")
    run_dir = Path(tempfile.mkdtemp(prefix="paredao-stack-"))
    run_dir.chmod(0o755)  # NGINX's workers (www-data when started as root) read it
    *api_ports, nginx_port, metrics_port = free_ports(4)
    name = f"stack-{uuid.uuid4().hex[:12]}"
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("PAREDAO_", "KAFKA"))}
    inherited.pop("DATABASE_URL", None)
    env = {
        **inherited,
        "PAREDAO_STACK_RUN_DIR": str(run_dir),
        "PAREDAO_STACK_DATABASE": database,
        "PAREDAO_API_PROCESSES": "2",
        "PAREDAO_API_BASE_PORT": str(api_ports[0]),
        "PAREDAO_NGINX_PORT": str(nginx_port),
        "PAREDAO_CONSUMER_METRICS_PORT": str(metrics_port),
        "PAREDAO_ADMIN_TOKEN": ADMIN_TOKEN,
        "PAREDAO_SECRET_KEY": SECRET_KEY,
        "PAREDAO_INGEST": "kafka",
        "KAFKA_PORT": BOOTSTRAP.rsplit(":", 1)[1],
        "PAREDAO_KAFKA_TOPIC": f"{name}.votes",
        "PAREDAO_KAFKA_GROUP": f"{name}-group",
        "PAREDAO_KAFKA_PARTITIONS": "2",
    }
    up = Stack(
        f"http://127.0.0.1:{nginx_port}",
        api_ports,
        f"http://127.0.0.1:{metrics_port}/metrics",
        run_dir,
        env,
    )
    with started(STACK_DIR / "up.sh", STACK_DIR / "down.sh", env, run_dir, timeout_s=300):
        yield up


def make_paredao(http: httpx.Client) -> dict[str, Any]:
    ids = []
    for _ in range(2):
        tag = uuid.uuid4().hex[:8]
        r = http.post("/candidates", json=application(name=f"B {tag}", email=f"{tag}@ex.com"))
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
        r = http.patch(f"/candidates/{ids[-1]}", json={"status": "housemate"}, headers=ADMIN)
        assert r.status_code == 200, r.text
    body = {"title": "P", "kind": "eliminate", "nominee_ids": ids, "require_captcha": False}
    r = http.post("/paredoes", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    r = http.post(f"/paredoes/{r.json()['id']}/open", headers=ADMIN)
    assert r.status_code == 200, r.text
    paredao: dict[str, Any] = r.json()
    return paredao


def total(text: str, name: str, **labels: str) -> float:
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and labels.items() <= s.labels.items()
    )


class TestStackThroughNginx:
    def test_a_vote_through_nginx_is_queued_then_counted(self, stack: Stack) -> None:
        with httpx.Client(base_url=stack.url, timeout=15) as http:
            assert http.get("/readyz").json()["checks"] == {"database": "ok", "broker": "ok"}
            p = make_paredao(http)
            body = {"nominee_id": p["nominees"][0]["candidate_id"], "mode": "torcida"}
            r = http.post(f"/paredoes/{p['id']}/votes", json={**body, "voter_id": "stack-1"})
            assert r.status_code == 202, r.text
            assert r.json()["status"] == "queued"
            vote_id = r.json()["vote_id"]
            deadline = time.monotonic() + 60
            status = None
            while time.monotonic() < deadline:
                status = http.get(f"/paredoes/{p['id']}/votes/{vote_id}").json()
                if status["status"] != "queued":
                    break
                time.sleep(0.2)
        assert status is not None and status["status"] == "counted", status

        # Each API process and the consumer export their own metrics (NGINX hides them).
        queued = sum(
            total(
                httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text,
                "paredao_votes_total",
                outcome="queued",
            )
            for port in stack.api_ports
        )
        assert queued == 1
        consumer = httpx.get(stack.consumer_metrics, timeout=5).text
        assert total(consumer, "paredao_consumer_votes_total", outcome="counted") == 1
        assert httpx.get(f"{stack.url}/metrics", timeout=5).status_code == 403

    def test_up_again_leaves_the_running_stack_alone(self, stack: Stack) -> None:
        pids = {f.name: f.read_text() for f in stack.run_dir.glob("*.pid")}
        again = stack.script("up.sh")
        assert again.returncode == 0, again.stderr
        assert "already running" in again.stderr
        assert {f.name: f.read_text() for f in stack.run_dir.glob("*.pid")} == pids
