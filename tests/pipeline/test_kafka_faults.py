"""Fault drills of the Kafka path, on the real broker and database: a consumer killed in the
middle of a batch, a rebalance between two consumers, PostgreSQL restarted, the broker
stopped, a poison record. Votes come through the API (Kafka mode) under a steady load; the
consumers are `python main.py consumer` processes. Each drill ends with the same check:
every vote that got a 202 is stored exactly once, tally = recount = replay, lag 0.

The broker and PostgreSQL drills stop and start the servers with the project's scripts
(deploy/kafka, deploy/postgres) and always leave them running and answering. The PostgreSQL
drill stops only the test database's own server (its port, and PGDATA_DIR): run it on a
PostgreSQL of its own, e.g. `PGPORT_DEV=55491 PGDATA_DIR=/tmp/pg deploy/postgres/start.sh`.
"""

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from sqlalchemy import Engine

from config import KafkaSettings
from db.engine import make_engine
from pipeline.kafka.producer import consumer_lag
from tests.conftest import only_on_postgres
from tests.pipeline.drills import (
    KAFKA_SCRIPTS,
    POSTGRES_SCRIPTS,
    assert_every_acknowledged_vote_stored_once,
    eventually,
    postgres_scripts_env,
    run_script,
    stored_votes,
)
from tests.support.consumer import ConsumerProcess
from tests.support.fixtures import StartConsumer
from tests.support.paredoes import make_paredao, nominee_ids
from tests.support.votes import SteadyLoad, VoteLoad

# A vote the brokers cannot take is answered 503 after this long (plus the API's margin).
PRODUCE_TIMEOUT_S = 3.0
# Past the sum of a drill's own bounded waits (each says what it waits for): only a hang ends
# a drill by its timeout, never a slow, shared machine.
DRILL_TIMEOUT_S = 900


@pytest.fixture
def kafka(kafka: KafkaSettings) -> Iterator[KafkaSettings]:
    """The test's topics, with a short produce timeout (an outage answers 503 quickly),
    deleted afterwards: every topic the broker holds slows its restart."""
    yield dataclasses.replace(kafka, produce_timeout_s=PRODUCE_TIMEOUT_S)
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap, "log_level": 3})
    topics = [kafka.topic, kafka.dead_letter_topic]
    for future in admin.delete_topics(topics, operation_timeout=30).values():
        future.result(timeout=30)


@pytest.fixture
def broker_left_running() -> Iterator[None]:
    """Other tests share the broker: it runs and answers after the test, whatever happened
    (a timeout included; start.sh leaves a running broker alone)."""
    yield
    run_script(KAFKA_SCRIPTS / "start.sh")


@pytest.fixture
def postgres_scripts(database_url: str) -> Iterator[dict[str, str]]:
    """The environment of deploy/postgres's scripts for the test database's own server (see
    `postgres_scripts_env`), left running and answering after the test, whatever happened
    (the test database is emptied after the test)."""
    env = postgres_scripts_env(database_url)
    yield env
    run_script(POSTGRES_SCRIPTS / "start.sh", extra_env=env)


@pytest.fixture
async def paredao(kafka_client: httpx.AsyncClient) -> tuple[int, list[int]]:
    p = await make_paredao(kafka_client, 2)
    return p["id"], nominee_ids(p)


@pytest.fixture
async def steady_load(
    kafka_client: httpx.AsyncClient, paredao: tuple[int, list[int]]
) -> AsyncIterator[Callable[[], SteadyLoad]]:
    """Start the steady vote load on the test's paredão (stopped after the test)."""
    running: list[SteadyLoad] = []

    def start() -> SteadyLoad:
        running.append(SteadyLoad(VoteLoad(*paredao), kafka_client))
        return running[-1]

    yield start
    for load in running:
        await load.cancel()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, pool_size=1)
    yield engine
    engine.dispose()


def assert_shed_or_acknowledged(load: VoteLoad) -> None:
    """Under a fault the API either logs the vote (202) or sheds it (503 + Retry-After)."""
    assert set(load.answers) <= {"202", "503"}, load.samples
    assert not load.faults, load.faults[:3]


@dataclasses.dataclass
class Drill:
    """What every drill works with: the API in Kafka mode, the test's topics and database,
    its paredão, consumer processes of its group and the steady vote load."""

    client: httpx.AsyncClient
    kafka: KafkaSettings
    database_url: str
    paredao: tuple[int, list[int]]
    engine: Engine
    start_consumer: StartConsumer
    steady_load: Callable[[], SteadyLoad]

    async def member(self, name: str, batch_max: int = 500) -> ConsumerProcess:
        """A consumer process of the group, once the group has given it partitions."""
        member = self.start_consumer(name, batch_max)
        await asyncio.to_thread(member.wait_assigned)
        return member

    def stored(self) -> int:
        return stored_votes(self.engine, self.paredao[0])

    async def check(self, votes: VoteLoad) -> None:
        """The same end to every drill: each vote logged or shed, and every acknowledged vote
        stored exactly once (tally = recount = replay, lag 0)."""
        assert_shed_or_acknowledged(votes)
        await assert_every_acknowledged_vote_stored_once(
            self.client, self.database_url, self.kafka, votes
        )


@pytest.fixture
def drill(
    kafka_client: httpx.AsyncClient,
    kafka: KafkaSettings,
    database_url: str,
    paredao: tuple[int, list[int]],
    start_consumer: StartConsumer,
    steady_load: Callable[[], SteadyLoad],
    engine: Engine,
) -> Drill:
    return Drill(kafka_client, kafka, database_url, paredao, engine, start_consumer, steady_load)


@pytest.mark.timeout(DRILL_TIMEOUT_S)
async def test_a_consumer_killed_mid_batch_and_restarted_loses_and_doubles_nothing(
    drill: Drill,
) -> None:
    first = await drill.member("first", batch_max=200)
    load = drill.steady_load()

    # Kill it in the middle of a batch: once it stores, while its transaction is open.
    def killed_mid_batch() -> bool:
        if drill.stored() >= 600 and first.in_write_transaction():
            first.kill()
            return True
        return False

    await eventually(killed_mid_batch, 120, "the first consumer in the middle of a batch")
    stored_at_kill = drill.stored()
    await eventually(lambda: len(load.load.acked) >= stored_at_kill + 500, 120, "votes logged")

    second = await drill.member("second")
    await eventually(lambda: len(load.load.acked) >= 2500, 120, "a few thousand votes")
    await drill.check(await load.finish())
    stored = drill.stored()
    assert stored_at_kill < stored
    stats = second.stop()  # it counted the rest: what the first stored stays stored once
    assert stats["counted"] == stored - stored_at_kill, stats


@pytest.mark.timeout(DRILL_TIMEOUT_S)
async def test_a_rebalance_between_two_consumers_loses_and_doubles_nothing(drill: Drill) -> None:
    a = await drill.member("a")
    load = drill.steady_load()
    await eventually(lambda: drill.stored() >= 500, 120, "the first member storing")
    b = await drill.member("b")  # joins: the group rebalances during the burst
    mark = len(load.load.acked)
    await eventually(lambda: len(load.load.acked) >= mark + 500, 120, "votes after the join")
    assignments_of_b = b.assignments()
    stats_a = a.stop()  # leaves: its partitions move to b, votes still arriving
    await asyncio.to_thread(b.wait_assigned, assignments_of_b)
    mark = len(load.load.acked)
    await eventually(lambda: len(load.load.acked) >= mark + 500, 120, "votes after the leave")
    await drill.check(await load.finish())
    stats_b = b.stop()
    assert stats_a["counted"] > 0 and stats_b["counted"] > 0, (stats_a, stats_b)
    assert stats_a["counted"] + stats_b["counted"] == drill.stored(), (stats_a, stats_b)


@only_on_postgres
@pytest.mark.timeout(DRILL_TIMEOUT_S)
async def test_postgresql_restarted_under_load_the_consumer_backs_off_and_resumes(
    drill: Drill,
    postgres_scripts: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    member = await drill.member("member", batch_max=200)
    load = drill.steady_load()
    await eventually(lambda: drill.stored() >= 500, 120, "votes stored")
    try:
        with caplog.at_level(logging.WARNING, logger="services.catalog"):
            await asyncio.to_thread(run_script, POSTGRES_SCRIPTS / "stop.sh", 120, postgres_scripts)
            # The consumer cannot store the votes, and says so.
            await eventually(
                lambda: "database unavailable, retrying" in member.log(),
                60,
                "the consumer backing off",
            )
            # The API's catalog outlived its cache and tried the database: from now on the
            # votes go on from the entry it kept through the outage, not a cached read.
            await eventually(
                lambda: "served as read before" in caplog.text, 60, "the catalog's entry kept"
            )
            past_the_cache = set(load.load.acked)
            await eventually(
                lambda: len(load.load.acked - past_the_cache) >= 300,
                120,
                "votes taken while it is down",
            )
            taken_while_down = load.load.acked - past_the_cache
    finally:
        await asyncio.to_thread(run_script, POSTGRES_SCRIPTS / "start.sh", 120, postgres_scripts)
    mark = len(load.load.acked)
    await eventually(lambda: len(load.load.acked) >= mark + 500, 120, "votes after the restart")
    votes = await load.finish()
    assert taken_while_down <= votes.acked
    assert member.process.poll() is None, member.log()[-3000:]  # it waited, it did not die
    await drill.check(votes)  # never a server error
    stats = member.stop()
    assert stats["retries"] > 0, stats  # it did meet the outage, and backed off
    assert "database unavailable, retrying" in member.log()


@pytest.mark.timeout(DRILL_TIMEOUT_S)
async def test_the_broker_stopped_for_seconds_sheds_with_503_then_recovers(
    drill: Drill, broker_left_running: None
) -> None:
    member = await drill.member("member")
    load = drill.steady_load()
    await eventually(lambda: len(load.load.acked) >= 300, 120, "votes logged")
    try:
        await asyncio.to_thread(run_script, KAFKA_SCRIPTS / "stop.sh")
        await eventually(lambda: load.load.answers["503"] >= 16, 60, "the API shedding")
        # Down for a while: another round of votes shed while it stays down.
        await eventually(lambda: load.load.answers["503"] >= 48, 60, "more votes shed")
    finally:
        await asyncio.to_thread(run_script, KAFKA_SCRIPTS / "start.sh")
    mark = len(load.load.acked)
    await eventually(lambda: len(load.load.acked) >= mark + 300, 120, "votes after the restart")
    votes = await load.finish()
    # Never a hang: every vote got its answer (the load finished within its bounded wait),
    # and each one the brokers could not take is a 503 with Retry-After.
    assert not votes.unanswered, votes.answers
    await drill.check(votes)
    member.stop()


POISON = b"\xff\x00 not a vote of ours"


@pytest.mark.timeout(DRILL_TIMEOUT_S)
async def test_a_poison_record_goes_to_the_dead_letters_and_the_votes_around_it_count(
    drill: Drill,
) -> None:
    member = await drill.member("member")
    kafka = drill.kafka
    votes = VoteLoad(*drill.paredao)
    await votes.run(drill.client, count=300)
    poisoned = produce_poison(kafka)  # into every partition, between the votes
    await votes.run(drill.client, count=300)
    await drill.check(votes)
    ends = {p: end for p, _, end in consumer_lag(drill.engine, kafka)}
    assert all(0 < o < ends[p] - 1 for p, o in poisoned.items()), (poisoned, ends)  # votes around
    letters = await asyncio.to_thread(read_dead_letters, kafka, len(poisoned))
    assert [m.value() for m in letters] == [POISON] * len(poisoned)
    headers = [dict(m.headers() or []) for m in letters]
    assert all(h.get("error") for h in headers), headers  # why it could not be read
    sources = {h["source"] for h in headers}
    assert sources == {f"{kafka.topic}/{p}/{o}".encode() for p, o in poisoned.items()}
    stats = member.stop()
    assert stats["dead_letters"] == len(poisoned), stats
    assert stats["counted"] == len(votes.acked), stats


def produce_poison(kafka: KafkaSettings) -> dict[int, int]:
    """Raw bytes, not a record of ours, into every partition: partition → its offset."""
    producer = Producer({"bootstrap.servers": kafka.bootstrap, "acks": "all"})
    offsets: dict[int, int] = {}

    def delivered(error: KafkaError | None, message: Message) -> None:
        assert error is None, error
        partition, offset = message.partition(), message.offset()
        assert partition is not None and offset is not None
        offsets[partition] = offset

    for partition in range(kafka.partitions):
        producer.produce(
            kafka.topic, value=POISON, key=b"poison", partition=partition, on_delivery=delivered
        )
    assert producer.flush(10) == 0
    return offsets


def read_dead_letters(kafka: KafkaSettings, count: int) -> list[Message]:
    reader = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": f"dlq-{uuid.uuid4().hex}"})
    try:
        reader.assign([TopicPartition(kafka.dead_letter_topic, 0, 0)])
        letters: list[Message] = []
        for _ in range(100):
            letters += [m for m in reader.consume(count, timeout=0.2) if m.error() is None]
            if len(letters) >= count:
                return letters
        raise AssertionError(f"{len(letters)} dead letters, not {count}")
    finally:
        reader.close()
