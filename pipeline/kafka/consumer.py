"""The consumer group (`python main.py consumer`): reads the votes topic in batches and
stores each batch with `pipeline.kafka.handler`, the votes and the partitions' next offsets in
one database transaction.

Exactly once: the offsets that count are the ones in the database, written with the votes;
on every assignment the consumer seeks to them. Offsets are also committed to Kafka after
the database commit, only so that the group's lag is visible to Kafka's own tools. Writes
are idempotent by vote_id besides, so nothing is counted twice whatever crashes.

Nothing is skipped: a batch that cannot be stored (the database is down) is retried with
backoff until it is; an undecodable record goes to the dead-letter topic (sent and
acknowledged before the batch commits) and is counted.
"""

import gc
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from config import KafkaSettings
from db.consumer import read_offsets
from db.engine import writer_engine
from db.paredoes import closing_paredoes
from db.torcida import PartitionWindows
from model.clock import Clock
from model.errors import DomainError
from pipeline.kafka.codec import CloseMarker, encode_marker
from pipeline.kafka.handler import BatchReport, Decoded, Record, decode_batch, handle_batch
from pipeline.kafka.producer import QUIET, partition_count, producer_config

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BACKOFF_S = 5.0
SESSION_TIMEOUT_MS = 10_000
# A fetch waits until the broker holds this much for it, or for this long: with librdkafka's
# defaults (1 byte, answered at once) a consumer that keeps up fetched a few records at a
# time, and the broker spent half its CPU answering fetches (`make capacity`: broker 84–96
# → 46–52 CPU-ms per 1,000 votes, consumer 57–67 → 42–46). It adds at most the wait to a
# vote's way to `counted`, less than the batch's own `poll_s`; a full log is read at once.
FETCH_MIN_BYTES = 64 * 1024
FETCH_WAIT_MAX_MS = 20


# Decoding while a batch is stored, this thread holds the interpreter; the storing thread,
# answered by PostgreSQL, waits for it, up to Python's switch interval (5 ms) each time, a
# dozen times a batch. Decoding in slices with a short sleep between them hands it over.
YIELD_S = 0.0002


def _yield_interpreter() -> None:
    time.sleep(YIELD_S)


@dataclass
class ConsumerStats:
    batches: int = 0
    counted: int = 0
    refused: int = 0
    replays: int = 0
    skipped: int = 0
    dead_letters: int = 0
    retries: int = 0


class VoteConsumer:
    def __init__(
        self,
        engine: Engine,
        kafka: KafkaSettings,
        clock: Clock,
        *,
        close_due: Callable[[datetime], list[int]],
        batch_max: int = 20_000,
        # How long a batch waits to fill: a lone vote is decided this much later at most.
        poll_s: float = 0.05,
        close_check_s: float = 1.0,
        # The votos únicos a voter_id may cast per paredão (anonymous mode; None: no limit).
        unico_per_device: int | None = None,
    ) -> None:
        self._engine = writer_engine(engine)
        self._kafka = kafka
        self._clock = clock
        # Begins the close of the paredões whose `closes_at` passed by the time given (the
        # lifecycle's, which owns every change of a paredão); the markers are written here.
        self._close_due = close_due
        self._batch_max = batch_max
        self._poll_s = poll_s
        self._close_check_s = close_check_s
        self._unico_per_device = unico_per_device
        self.stats = ConsumerStats()
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._markers_sent: set[int] = set()  # paredões whose close markers this process wrote
        # The torcida limit of the partitions this process owns, read again from the stored
        # votes after a batch that did not commit, and whenever a batch's fence finds one
        # of its partitions stored by another process since (an assignment).
        self._windows = PartitionWindows()

    def run(
        self, stop: threading.Event, on_batch: Callable[[BatchReport], None] | None = None
    ) -> None:
        """Consume until `stop` is set; the batch in hand is stored before returning."""
        # A batch allocates ~10 objects a vote while the voters' windows (hundreds of
        # thousands of tuples) stay alive: at Python's default thresholds the cyclic
        # collector ran hundreds of times a batch and rescanned the windows (17 % of the
        # process, py-spy). Votes make no reference cycles: collect every 100,000.
        gc.freeze()
        gc.set_threshold(100_000, 50, 100)
        self._producer = Producer(producer_config(self._kafka))
        self._consumer = Consumer(
            {
                "bootstrap.servers": self._kafka.bootstrap,
                "group.id": self._kafka.group_id,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                # A member killed without leaving holds its partitions until this runs out
                # (librdkafka's default is 45 s): votes wait that long for a replacement.
                # Heartbeats come from librdkafka's thread, so a long batch does not expire it.
                "session.timeout.ms": SESSION_TIMEOUT_MS,
                "fetch.min.bytes": FETCH_MIN_BYTES,
                "fetch.wait.max.ms": FETCH_WAIT_MAX_MS,
                **QUIET,
            }
        )
        self._consumer.subscribe([self._kafka.topic], on_assign=self._on_assign)
        next_close_check = 0.0
        # Two stages: this thread polls and decodes the next batch while one storing thread
        # writes the last one (waiting on the database frees the interpreter for the poll).
        # Batches are stored one at a time, in the order they were read.
        storing: Future[BatchReport | None] | None = None
        with ThreadPoolExecutor(1, thread_name_prefix="vote-store") as store:
            try:
                while not stop.is_set():
                    messages = self._consumer.consume(self._batch_max, timeout=self._poll_s)
                    records = [r for m in messages if (r := self._record(m)) is not None]
                    pause = None if storing is None or storing.done() else _yield_interpreter
                    decoded = decode_batch(records, pause) if records else None
                    if storing is not None:
                        self._stored(storing.result(), on_batch)
                        storing = None
                    if decoded is not None:
                        storing = store.submit(self._store, decoded, stop)
                    if time.monotonic() >= next_close_check:
                        self._close_due_paredoes()
                        next_close_check = time.monotonic() + self._close_check_s
                if storing is not None:
                    self._stored(storing.result(), on_batch)
            finally:
                self._consumer.close()
                self._producer.flush(10)

    def _record(self, message: Message) -> Record | None:
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                log.warning("consumer error: %s", error)
            return None
        partition, offset = message.partition(), message.offset()
        assert partition is not None and offset is not None
        return Record(message.topic() or "", partition, offset, message.key(), message.value())

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Resume every assigned partition where the database says, not where Kafka does."""
        stored = self._with_retries(lambda: self._read_offsets(), None)
        for tp in partitions:
            tp.offset = stored.get(tp.partition, OFFSET_BEGINNING) if stored else OFFSET_BEGINNING
        consumer.assign(partitions)
        log.info("assigned %s", [(tp.partition, tp.offset) for tp in partitions])

    def _read_offsets(self) -> dict[int, int]:
        with self._engine.connect() as connection:
            return read_offsets(connection, self._kafka.topic)

    def _store(self, batch: Decoded, stop: threading.Event | None) -> BatchReport | None:
        """Store one batch (on the storing thread), retrying until it is stored or `stop`."""

        def attempt() -> BatchReport:
            try:
                with self._engine.begin() as connection:
                    report = handle_batch(
                        connection,
                        self._kafka.topic,
                        batch,
                        self._clock(),
                        self._windows,
                        unico_per_device=self._unico_per_device,
                    )
                    self._send_dead_letters(report)  # before the commit: never lost, maybe twice
            except BaseException:
                # Whether the batch's votes are stored is unknown: rebuild from the database.
                self._windows.forget()
                raise
            return report

        return self._with_retries(attempt, stop)

    def _stored(
        self, report: BatchReport | None, on_batch: Callable[[BatchReport], None] | None
    ) -> None:
        """After a batch's commit (on the polling thread, which owns the Kafka consumer)."""
        if report is None:
            return
        self._count(report)
        assert self._consumer is not None
        offsets = [TopicPartition(self._kafka.topic, p, o) for p, o in report.next_offsets.items()]
        if offsets:
            try:
                self._consumer.commit(offsets=offsets, asynchronous=True)
            except Exception as exc:  # the database holds the offsets that count
                log.warning("could not commit offsets to Kafka (lag display only): %s", exc)
        if on_batch is not None:
            on_batch(report)

    def _with_retries(self, attempt: Callable[[], T], stop: threading.Event | None) -> T | None:
        """Run `attempt` until it succeeds, backing off while the database is unreachable.
        Gives up (None) only when asked to stop; the records are then read again later."""
        backoff = 0.1
        while True:
            try:
                return attempt()
            except DBAPIError as exc:
                self.stats.retries += 1
                log.warning("database unavailable, retrying in %.1f s: %s", backoff, exc.orig)
            if stop is not None and stop.wait(backoff):
                return None
            if stop is None:
                time.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    def _send_dead_letters(self, report: BatchReport) -> None:
        if not report.dead:
            return
        assert self._producer is not None
        failures: list[KafkaError] = []

        def delivered(error: KafkaError | None, _message: Message) -> None:
            if error is not None:
                failures.append(error)

        for record, reason in report.dead:
            self._producer.produce(
                self._kafka.dead_letter_topic,
                value=record.value,
                key=record.key,
                headers={
                    "error": reason.encode(),
                    "source": f"{record.topic}/{record.partition}/{record.offset}".encode(),
                },
                on_delivery=delivered,
            )
        left = self._producer.flush(self._kafka.produce_timeout_s + 1)
        if left or failures:
            raise RuntimeError(f"dead letters not acknowledged: {failures or left}")
        log.error(
            "%d undecodable records sent to %s", len(report.dead), self._kafka.dead_letter_topic
        )

    def _count(self, report: BatchReport) -> None:
        self.stats.batches += 1
        self.stats.counted += report.counted
        self.stats.refused += report.refused
        self.stats.replays += report.replays
        self.stats.skipped += report.skipped
        self.stats.dead_letters += len(report.dead)

    def _close_due_paredoes(self) -> None:
        """Begin the close of every paredão whose `closes_at` passed, through the log; and
        write the markers of any close still waiting for them (one this process has not
        written: the API's close may have failed half-way, or this process restarted)."""
        try:
            self._close_due(self._clock())
            with Session(self._engine) as session:
                closing = closing_paredoes(session)
        except DBAPIError as exc:
            log.warning("could not check for paredões to close: %s", exc.orig)
            return
        except DomainError as exc:  # changed under us (extended, closed by the API): next turn
            log.warning("could not begin a due close: %s", exc.detail)
            return
        for paredao_id in closing:
            if paredao_id in self._markers_sent:
                continue
            try:
                self.write_close_markers(paredao_id)
            except (KafkaException, RuntimeError) as exc:
                log.warning("close markers of paredão %d not written yet: %s", paredao_id, exc)
                continue
            self._markers_sent.add(paredao_id)

    def write_close_markers(self, paredao_id: int) -> None:
        assert self._producer is not None
        partitions = partition_count(self._producer, self._kafka.topic)
        marker = encode_marker(CloseMarker(paredao_id, partitions))
        for partition in range(partitions):
            self._producer.produce(self._kafka.topic, value=marker, partition=partition)
        if self._producer.flush(self._kafka.produce_timeout_s + 1):
            raise RuntimeError(f"close markers of paredão {paredao_id} not acknowledged")
