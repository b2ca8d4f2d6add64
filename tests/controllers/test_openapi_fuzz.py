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
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ADMIN_TOKEN
from tests.support.fixtures import MakeServer
from tests.support.paredoes import make_paredao_at
from tests.support.server import LiveServer

CONFIG = Path(__file__).with_name("schemathesis.toml")
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
SCHEMATHESIS = Path(sys.executable).with_name("st")
MAX_EXAMPLES = 25
SEED = 20261121
RUN_TIMEOUT_S = 240
# The test's own limit is past the fuzzer's run, which has its own limit.
pytestmark = pytest.mark.timeout(RUN_TIMEOUT_S + 120)


@pytest.fixture
def server(database_url: str, make_server: MakeServer) -> Iterator[LiveServer]:
    """The API as an operator serves it (one worker), on this test's database, with settings
    from this environment alone (never the developer's `.env`)."""
    served = make_server(database_url, {"PAREDAO_CAPTCHA_MAX_NUMBER": "1000"}, workers=1)
    served.start()
    yield served
    served.stop()


def seed(url: str) -> None:
    """Candidates 1–4, housemates, in an open paredão without captcha: ids the fuzzer's
    examples name exist, so it reaches past the 404s."""
    paredao = make_paredao_at(url, 4)
    assert [n["candidate_id"] for n in paredao["nominees"]] == [1, 2, 3, 4]


def test_every_operation_answers_as_documented(server: LiveServer, tmp_path: Path) -> None:
    seed(server.url)
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(CONFIG),
        "--no-color",
        "run",
        f"{server.url}/openapi.json",
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
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    report = run.stdout[-20_000:] + run.stderr[-5_000:]
    assert run.returncode == 0, report
    generated = re.search(r"(\d+) generated", report)
    assert generated is not None and int(generated[1]) >= 500, report  # it really ran
    assert not server.errors_logged(), server.errors_logged()
    assert "Traceback" not in server.log(), server.log()[-5_000:]
