"""The vote page on the Kafka path, in a real browser: after the 202 (`queued`) the page
follows the vote until the consumer has decided it, and says so: counted, or why not."""

import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from config import KafkaSettings
from pipeline.kafka.producer import create_topics
from tests.browser.conftest import ROOT, LiveServer, playwright_api, serve_live, server_env
from tests.conftest import ADMIN, cpf
from tests.pipeline.conftest import BOOTSTRAP, broker_reachable
from tests.support.environment import unavailable

if TYPE_CHECKING:
    from playwright.sync_api import Page

expect = playwright_api().expect


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, photos: str) -> Iterator[LiveServer]:
    """The app on the Kafka path with `python main.py consumer` beside it, as processes."""
    if not broker_reachable():
        unavailable(f"no Kafka broker at KAFKA_BOOTSTRAP={BOOTSTRAP}: deploy/kafka/start.sh")
    name = f"browser-{uuid.uuid4().hex[:12]}"
    kafka = KafkaSettings(BOOTSTRAP, f"{name}.votes", partitions=2, group_id=f"{name}-group")
    create_topics(kafka)
    folder = tmp_path_factory.mktemp("live-kafka")
    extra = {
        "PAREDAO_INGEST": "kafka",
        "KAFKA_BOOTSTRAP": kafka.bootstrap,
        "PAREDAO_KAFKA_TOPIC": kafka.topic,
        "PAREDAO_KAFKA_GROUP": kafka.group_id,
    }
    with serve_live(folder, photos, **extra) as server:
        env = server_env(f"sqlite:///{folder / 'paredao.db'}", **extra)
        log = (folder / "consumer.log").open("wb")
        consumer = subprocess.Popen(
            [sys.executable, "main.py", "consumer"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield server
        finally:
            consumer.terminate()
            consumer.wait(timeout=30)
            log.close()


def test_the_page_follows_a_queued_vote_until_it_is_counted_or_refused(
    page: "Page", live: LiveServer
) -> None:
    p = live.open_paredao(
        "Paredão pela fila", ["Thelma Assis", "Rafa Kalimann"], require_captcha=False
    )
    page.goto(f"/paredoes/{p['id']}")
    page.locator(".nominee-card", has_text="Thelma Assis").click()
    page.get_by_text("Voto único", exact=True).click()
    voter_cpf = cpf(31415926)
    page.get_by_role("textbox", name="CPF").press_sequentially(voter_cpf)
    page.get_by_role("button", name="Votar").click()
    expect(page.locator("[data-confirmation-title]")).to_have_text(
        "Seu voto para Thelma Assis foi recebido"
    )
    status = page.locator("[data-vote-status]")
    expect(status).to_have_text("Seu voto foi contado.", timeout=30_000)

    # The same CPF again: the API takes it into the queue, the consumer refuses it.
    page.get_by_role("button", name="Votar de novo").click()
    page.get_by_role("textbox", name="CPF").press_sequentially(voter_cpf)
    page.get_by_role("button", name="Votar").click()
    expect(status).to_have_text(
        "Seu voto não foi contado: Este CPF já votou neste paredão: o voto único é um por pessoa.",
        timeout=30_000,
    )
    # Counted once: the recount reads the stored rows (results may be a second old, and
    # through NGINX its micro-cache may answer the read before).
    recount = live.api.post(f"/paredoes/{p['id']}/recount", headers=ADMIN).json()
    assert (recount["recount_total"], recount["matches"]) == (1, True)
