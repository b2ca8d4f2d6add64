"""The Kafka path end to end, against the real broker: the API as an idempotent producer,
the consumer group storing into the database, and the voter reading the decision."""

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from config import KafkaSettings
from tests.conftest import ADMIN, Clock, cpf, solve_captcha
from tests.pipeline.conftest import RunningConsumer, wait_until
from tests.support.api import cast_vote
from tests.support.paredoes import make_paredao, nominee_ids


async def status_of(client: httpx.AsyncClient, paredao_id: int, vote_id: str) -> dict[str, Any]:
    r = await client.get(f"/paredoes/{paredao_id}/votes/{vote_id}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def decided(client: httpx.AsyncClient, paredao_id: int, vote_id: str) -> dict[str, Any]:
    """The vote's status once the consumer has decided it (bounded wait)."""
    for _ in range(600):
        body = await status_of(client, paredao_id, vote_id)
        if body["status"] != "queued":
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"vote {vote_id} still queued")


class TestQueuedThenCounted:
    async def test_a_vote_is_queued_then_counted(
        self, kafka_client: httpx.AsyncClient, consumer: RunningConsumer
    ) -> None:
        p = await make_paredao(kafka_client, 2)
        r = await cast_vote(kafka_client, p["id"], nominee_id=nominee_ids(p)[0])
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "queued"
        counted = await decided(kafka_client, p["id"], r.json()["vote_id"])
        assert counted["status"] == "counted"
        assert counted["accepted_at"] == r.json()["accepted_at"]
        results = (await kafka_client.get(f"/paredoes/{p['id']}/results")).json()
        assert results["total_votes"] == 1

    async def test_a_vote_not_decided_yet_reads_queued(
        self, kafka_client: httpx.AsyncClient
    ) -> None:
        p = await make_paredao(kafka_client, 2)  # no consumer runs in this test
        r = await cast_vote(kafka_client, p["id"], nominee_id=nominee_ids(p)[0])
        assert r.status_code == 202
        assert (await status_of(kafka_client, p["id"], r.json()["vote_id"]))["status"] == "queued"

    async def test_the_same_vote_id_sent_twice_counts_once(
        self, kafka_client: httpx.AsyncClient, consumer: RunningConsumer
    ) -> None:
        p = await make_paredao(kafka_client, 2)
        vote_id = str(uuid.uuid4())
        for _ in range(2):
            r = await cast_vote(
                kafka_client, p["id"], nominee_id=nominee_ids(p)[0], vote_id=vote_id, voter_id="v"
            )
            assert r.status_code == 202
        assert (await decided(kafka_client, p["id"], vote_id))["status"] == "counted"
        wait_until(lambda: consumer.member.stats.replays >= 1, what="the replay decided")
        results = (await kafka_client.get(f"/paredoes/{p['id']}/results")).json()
        assert results["total_votes"] == 1


class TestRefusalsReachTheVoteStatus:
    async def test_every_refusal_reason(
        self, kafka_client: httpx.AsyncClient, consumer: RunningConsumer, clock: Clock
    ) -> None:
        p = await make_paredao(kafka_client, 2, closes_at="2026-11-21T23:00:00Z")
        a, b = nominee_ids(p)
        voter_cpf = cpf(7)
        # One voter_id: one partition, so the log keeps the order and the first one counts.
        first = await cast_vote(
            kafka_client, p["id"], nominee_id=a, mode="unico", cpf=voter_cpf, voter_id="citizen"
        )
        second = await cast_vote(
            kafka_client, p["id"], nominee_id=b, mode="unico", cpf=voter_cpf, voter_id="citizen"
        )
        burst = [
            await cast_vote(kafka_client, p["id"], nominee_id=a, voter_id="fan") for _ in range(11)
        ]
        reused_id = str(uuid.uuid4())
        await cast_vote(kafka_client, p["id"], nominee_id=a, voter_id="x", vote_id=reused_id)
        assert (await decided(kafka_client, p["id"], reused_id))["status"] == "counted"
        reused = await cast_vote(
            kafka_client, p["id"], nominee_id=b, voter_id="x", vote_id=reused_id
        )
        for r in (first, second, *burst, reused):
            assert r.status_code == 202, r.text  # the API decides none of these: the consumer does
        clock.advance(hours=1)  # past closes_at: the API knows voting has ended, and says so
        late = await cast_vote(kafka_client, p["id"], nominee_id=a)
        assert late.status_code == 409
        assert late.json()["error"] == "voting_not_open"

        expected = {
            first.json()["vote_id"]: ("counted", None),
            second.json()["vote_id"]: ("refused", "cpf_already_voted"),
            burst[9].json()["vote_id"]: ("counted", None),
            burst[10].json()["vote_id"]: ("refused", "rate_limited"),
        }
        for vote_id, (status, reason) in expected.items():
            body = await decided(kafka_client, p["id"], vote_id)
            assert (body["status"], body["reason"]) == (status, reason), body
        # A reused vote_id keeps its first vote; the different second one was refused.
        wait_until(lambda: consumer.member.stats.refused >= 3, what="the refusals")
        assert (await status_of(kafka_client, p["id"], reused_id))["nominee_id"] == a

    async def test_a_spent_captcha(
        self, kafka_client: httpx.AsyncClient, consumer: RunningConsumer
    ) -> None:
        p = await make_paredao(kafka_client, 2, require_captcha=True)
        token = await solve_captcha(kafka_client, p["id"])
        # One voter (one partition, so the log keeps their order) spends one token twice.
        one, two = [
            await cast_vote(
                kafka_client,
                p["id"],
                nominee_id=nominee_ids(p)[0],
                voter_id="v",
                captcha_token=token,
            )
            for _ in range(2)
        ]
        assert (await decided(kafka_client, p["id"], one.json()["vote_id"]))["status"] == "counted"
        refused = await decided(kafka_client, p["id"], two.json()["vote_id"])
        assert (refused["status"], refused["reason"]) == ("refused", "captcha_failed")


@pytest.mark.timeout(240)
async def test_bbb25_fourth_paredao_through_kafka_equals_the_direct_path(
    kafka_client: httpx.AsyncClient, client: httpx.AsyncClient, consumer: RunningConsumer
) -> None:
    """BBB25's 4th paredão: único 11.86 / 52.38 / 35.76 and torcida 4.76 / 45.24 / 50.00 give
    8.31 / 48.81 / 42.88 — 1,029 votos únicos and 42 votos da torcida, through both paths."""
    unico, torcida = (122, 539, 368), (2, 19, 21)
    finals = []
    for api, offset in ((kafka_client, 0), (client, 10_000)):
        p = await make_paredao(api, 3)
        ids = nominee_ids(p)
        bodies = [
            {"nominee_id": ids[n], "mode": "unico", "cpf": cpf(offset + 1 + 1000 * n + i)}
            for n, count in enumerate(unico)
            for i in range(count)
        ] + [
            {"nominee_id": ids[n], "voter_id": f"fan-{n}-{i}"}
            for n, count in enumerate(torcida)
            for i in range(count)
        ]
        for start in range(0, len(bodies), 100):
            answers = await asyncio.gather(
                *(cast_vote(api, p["id"], **b) for b in bodies[start : start + 100])
            )
            assert all(a.status_code == 202 for a in answers), [
                a.text for a in answers if a.status_code != 202
            ]
        if api is kafka_client:
            total = len(bodies)

            def all_counted(total: int = total) -> bool:
                stats = consumer.member.stats
                return stats.counted + stats.refused >= total

            await asyncio.to_thread(wait_until, all_counted, 120, "every vote counted")
        results = (await api.get(f"/paredoes/{p['id']}/results")).json()
        assert results["total_votes"] == len(bodies) == 1071
        finals.append([n["percent"]["final"] for n in results["nominees"]])
    assert finals[0] == finals[1] == [8.31, 48.81, 42.88]


class TestClosing:
    async def test_a_close_waits_for_every_vote_logged_before_it(
        self,
        kafka_client: httpx.AsyncClient,
        consumer: RunningConsumer,
        kafka: KafkaSettings,
        database_url: str,
        clock: Clock,
    ) -> None:
        p = await make_paredao(kafka_client, 2)
        a, b = nominee_ids(p)
        consumer.stop.set()  # the consumer stops: the close must wait for these votes
        await asyncio.to_thread(consumer.thread.join, 30)
        acked = []
        for i, n in enumerate([a, a, b]):
            r = await cast_vote(kafka_client, p["id"], nominee_id=n, voter_id=f"v{i}")
            assert r.status_code == 202
            acked.append(r.json()["vote_id"])
        clock.advance(seconds=1)  # the close comes after the votes (a fixed clock would tie them)
        closed = await kafka_client.post(f"/paredoes/{p['id']}/close", headers=ADMIN)
        assert closed.status_code == 200, closed.text
        assert closed.json()["status"] == "closing"
        assert closed.json()["outcome"]["kind"] == "pending"
        results = (await kafka_client.get(f"/paredoes/{p['id']}/results")).json()
        assert (results["status"], results["outcome"]["kind"]) == ("closing", "pending")
        late = await cast_vote(kafka_client, p["id"], nominee_id=b, voter_id="late")
        assert (late.status_code, late.json()["error"]) == (409, "voting_not_open")

        restarted = RunningConsumer(database_url, kafka, clock)
        try:
            for vote_id in acked:
                assert (await decided(kafka_client, p["id"], vote_id))["status"] == "counted"

            async def frozen() -> dict[str, Any]:
                for _ in range(600):
                    body: dict[str, Any] = (
                        await kafka_client.get(f"/paredoes/{p['id']}/results")
                    ).json()
                    if body["status"] == "closed":
                        return body
                    await asyncio.sleep(0.05)
                raise AssertionError("the result never froze")

            results = await frozen()
        finally:
            restarted.close()
        assert results["total_votes"] == 3
        assert results["outcome"] == {
            "kind": "eliminated",
            "candidate_id": a,
            "tied_candidate_ids": [],
        }


async def test_a_poison_record_goes_to_the_dead_letters(
    kafka_client: httpx.AsyncClient, consumer: RunningConsumer, kafka: KafkaSettings
) -> None:
    p = await make_paredao(kafka_client, 2)
    producer = Producer(
        {"bootstrap.servers": kafka.bootstrap, "acks": "all", "enable.idempotence": True}
    )
    producer.produce(kafka.topic, value=b"\x00 not a vote", key=b"poison", partition=0)
    assert producer.flush(10) == 0
    r = await cast_vote(kafka_client, p["id"], nominee_id=nominee_ids(p)[0])
    assert (await decided(kafka_client, p["id"], r.json()["vote_id"]))["status"] == "counted"
    wait_until(lambda: consumer.member.stats.dead_letters == 1, what="the dead letter counted")

    reader = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap,
            "group.id": f"dlq-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
        }
    )
    try:
        reader.assign([TopicPartition(kafka.dead_letter_topic, 0, 0)])
        message = wait_until(lambda: reader.poll(0.5), 20, "the dead letter")
    finally:
        reader.close()
    assert message.value() == b"\x00 not a vote"
    headers = dict(message.headers() or [])
    assert headers["error"]
    assert headers["source"].decode().startswith(f"{kafka.topic}/0/")


class TestReplayFromTheLog:
    async def test_deciding_the_log_again_gives_the_stored_tally(
        self, kafka_client: httpx.AsyncClient, consumer: RunningConsumer
    ) -> None:
        p = await make_paredao(kafka_client, 2)
        a, b = nominee_ids(p)
        sent = [
            await cast_vote(kafka_client, p["id"], nominee_id=n, voter_id=v)
            for n, v in [(a, "x"), (b, "y"), (a, "z")]
        ]
        same_cpf = [
            # One voter (one partition, in log order): the replay meets them in the same order.
            await cast_vote(
                kafka_client, p["id"], nominee_id=n, mode="unico", cpf=cpf(99), voter_id="c"
            )
            for n in (a, b)
        ]
        for r in [*sent, *same_cpf]:
            await decided(kafka_client, p["id"], r.json()["vote_id"])
        r = await kafka_client.post(f"/paredoes/{p['id']}/replay", headers=ADMIN)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["matches"] is True, body
        assert (body["log_votes"], body["tally_total"], body["replay_total"]) == (5, 4, 4)

    async def test_the_direct_path_has_no_log_to_replay(self, client: httpx.AsyncClient) -> None:
        p = await make_paredao(client, 2)
        r = await client.post(f"/paredoes/{p['id']}/replay", headers=ADMIN)
        assert r.status_code == 409
        assert "Kafka" in r.json()["detail"]
