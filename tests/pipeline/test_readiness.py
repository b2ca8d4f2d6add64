"""`/readyz` on the Kafka path: ready only while the brokers answer, besides the database."""

import socket

import httpx

from config import Settings
from main import create_app
from tests.conftest import Clock
from tests.support.app import running


async def test_ready_when_the_brokers_answer(kafka_client: httpx.AsyncClient) -> None:
    r = await kafka_client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["checks"] == {"database": "ok", "broker": "ok"}


async def test_not_ready_without_brokers(kafka_settings: Settings, clock: Clock) -> None:
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        nobody = f"127.0.0.1:{s.getsockname()[1]}"
    app = create_app(kafka_settings.model_copy(update={"kafka_bootstrap": nobody}), clock=clock)
    async with running(app) as http:
        assert (await http.get("/healthz")).status_code == 200
        r = await http.get("/readyz")
    assert r.status_code == 503
    assert r.json() == {"error": "not_ready", "detail": "broker: unreachable"}
