"""schemathesis against the API as a client sees it: a real server process on its own
database, every operation of the OpenAPI, the admin header, every check (`--checks all`:
no server error, every status and body as documented, schema-invalid input refused and
schema-valid input taken), a bounded number of examples and a fixed seed, so it runs the
same way in CI in well under two minutes.

Business rules that no JSON schema can say (an applicant is 18 on the server's date, a
nominee is a housemate, a CPF's check digits, a vote inside its paredão's window) answer a
documented 4xx: `schemathesis.toml` beside this file lists, per operation, which statuses a
schema-valid request may honestly get. What a schema can state it must state: a check of our
own (`schemathesis_hooks.py`) fails the run when a schema-valid request is refused 422 for a
bound, length, pattern or type the published schema does not carry, as a client generated
from `/openapi.json` would be.
"""

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN, ADMIN_TOKEN, SECRET_KEY, application

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).with_name("schemathesis.toml")
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
SCHEMATHESIS = Path(sys.executable).with_name("st")
MAX_EXAMPLES = 25
SEED = 20261121


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[str]:
    """The API in a process of its own (uvicorn, one worker), on this test's database, with
    settings from this environment alone (never the developer's `.env`)."""
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database_url,
        "PAREDAO_ADMIN_TOKEN": ADMIN_TOKEN,
        "PAREDAO_SECRET_KEY": SECRET_KEY,
        "PAREDAO_CAPTCHA_MAX_NUMBER": "1000",
    }
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "--factory", "main:create_app"),
            *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
        ],
        cwd=tmp_path,  # no .env there
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/openapi.json", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail((tmp_path / "server.log").read_text())
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def seed(url: str) -> None:
    """Candidates 1–4, housemates, in an open paredão without captcha: ids the fuzzer's
    examples name exist, so it reaches past the 404s."""
    with httpx.Client(base_url=url, headers=ADMIN, timeout=10) as client:
        ids = []
        for i in range(4):
            r = client.post("/candidates", json=application(email=f"seed{i}@example.com"))
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
            r = client.patch(f"/candidates/{ids[-1]}", json={"status": "housemate"})
            assert r.status_code == 200, r.text
        body = {"title": "P", "kind": "eliminate", "nominee_ids": ids, "require_captcha": False}
        r = client.post("/paredoes", json=body)
        assert r.status_code == 201, r.text
        assert client.post(f"/paredoes/{r.json()['id']}/open").status_code == 200


def test_every_operation_answers_as_documented(server: str, tmp_path: Path) -> None:
    seed(server)
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(CONFIG),
        "--no-color",
        "run",
        f"{server}/openapi.json",
        "--checks",
        "all",
        "--header",
        f"Authorization: Bearer {ADMIN_TOKEN}",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--generation-database",
        "none",
        "--workers",
        "2",
    ]
    run = subprocess.run(
        command,
        cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    report = run.stdout[-20_000:] + run.stderr[-5_000:]
    assert run.returncode == 0, report
    generated = re.search(r"(\d+) generated", report)
    assert generated is not None and int(generated[1]) >= 500, report  # it really ran
    server_log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in server_log, server_log[-5_000:]
