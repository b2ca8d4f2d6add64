"""Results anyone can check, on the Kafka path: the consumer freezes the result once every
partition's close marker is read, and the certificate it builds holds exactly the votes it
counted (refusals decided by the consumer left out); the close and the replay are audited."""

import asyncio
import uuid
from typing import Any

import httpx

from tests.conftest import ADMIN, Clock, cpf
from tests.controllers.test_audit import entries, verify
from tests.controllers.test_certificates import check_certificate
from tests.pipeline.conftest import RunningConsumer
from tests.pipeline.test_kafka_path import decided
from tests.support.api import cast_vote
from tests.support.paredoes import make_paredao, nominee_ids


async def frozen(client: httpx.AsyncClient, paredao_id: int) -> dict[str, Any]:
    for _ in range(600):
        paredao: dict[str, Any] = (await client.get(f"/paredoes/{paredao_id}")).json()
        if paredao["status"] == "closed":
            return paredao
        await asyncio.sleep(0.05)
    raise AssertionError(f"paredão {paredao_id} was not frozen")


class TestCertificateOnTheKafkaPath:
    async def test_the_consumer_certifies_what_it_counted(
        self, kafka_client: httpx.AsyncClient, consumer: RunningConsumer, clock: Clock
    ) -> None:
        p = await make_paredao(kafka_client, 3)
        a, b, c = nominee_ids(p)
        sent: dict[str, tuple[int, str]] = {}
        plan: list[tuple[int, str, dict[str, Any]]] = [
            # The same CPF again: the consumer refuses it. One voter_id, so one partition, and
            # the replay decides them in the same order.
            (a, "unico", {"cpf": cpf(1), "voter_id": "twice"}),
            (b, "unico", {"cpf": cpf(1), "voter_id": "twice"}),
            (c, "unico", {"cpf": cpf(2)}),
            *[(b, "torcida", {"voter_id": "fan"})] * 11,  # the 11th in a minute is refused
            (c, "torcida", {}),
        ]
        for nominee, mode, extra in plan:
            r = await cast_vote(kafka_client, p["id"], nominee_id=nominee, mode=mode, **extra)
            assert r.status_code == 202, r.text
            sent[r.json()["vote_id"]] = (nominee, mode)
        counted, refused = {}, []
        for vote_id, choice in sent.items():
            status = (await decided(kafka_client, p["id"], vote_id))["status"]
            if status == "counted":
                counted[vote_id] = choice
            else:
                refused.append(vote_id)
        assert len(refused) == 2
        clock.advance(seconds=1)
        r = await kafka_client.post(f"/paredoes/{p['id']}/close", headers=ADMIN)
        assert (r.status_code, r.json()["status"]) == (200, "closing"), r.text
        assert (await kafka_client.get(f"/paredoes/{p['id']}/certificate")).status_code == 409
        await frozen(kafka_client, p["id"])
        await check_certificate(kafka_client, p["id"], counted)
        for vote_id in [*refused, str(uuid.uuid4())]:
            r = await kafka_client.get(f"/paredoes/{p['id']}/votes/{vote_id}/proof")
            assert r.status_code == 404, r.text

        r = await kafka_client.post(f"/paredoes/{p['id']}/replay", headers=ADMIN)
        assert (r.status_code, r.json()["matches"]) == (200, True), r.text
        items = await entries(kafka_client)
        verify(items)
        assert [i["action"] for i in items][-2:] == ["paredao.close", "paredao.replay"]
