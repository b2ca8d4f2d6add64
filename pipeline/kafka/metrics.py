"""The consumer process's metrics (`python main.py consumer`): what each batch decided, the
dead letters, and the group's lag, served on a port of its own for Prometheus to scrape."""

import logging
import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.process_collector import ProcessCollector
from sqlalchemy import Engine

from config import KafkaSettings
from pipeline.kafka.handler import BatchReport
from pipeline.kafka.producer import consumer_lag

log = logging.getLogger(__name__)

# The consumer's own registry: defined here, imported only by the consumer process, so the
# API's /metrics never shows them (in multiprocess mode it reads every metric file).
REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
VOTES = Counter(
    "paredao_consumer_votes_total",
    "Votes the consumer decided: counted, refused, replay (stored before) or skipped "
    "(already read before a restart).",
    ["outcome"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "paredao_consumer_dead_letters_total",
    "Undecodable records the consumer sent to the dead-letter topic.",
    registry=REGISTRY,
)
LAG = Gauge(
    "paredao_consumer_lag",
    "Records in the log not yet stored, per partition (the end of the log minus the next "
    "offset stored with the votes): what `python main.py lag` prints.",
    ["partition"],
    multiprocess_mode="max",
    registry=REGISTRY,
)


class ConsumerMetrics:
    """Counts each stored batch (`observe`, the consumer's `on_batch`) and samples the lag
    every `lag_every_s` on a thread: the end of each partition's log minus the next offset
    stored with the votes, the lag that counts (what `python main.py lag` prints)."""

    def __init__(self, engine: Engine, kafka: KafkaSettings, lag_every_s: float = 5.0) -> None:
        self._engine = engine
        self._kafka = kafka
        self._lag_every_s = lag_every_s
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None
        self._server: WSGIServer | None = None

    def observe(self, report: BatchReport) -> None:
        for outcome, count in (
            ("counted", report.counted),
            ("refused", report.refused),
            ("replay", report.replays),
            ("skipped", report.skipped),
        ):
            if count:
                VOTES.labels(outcome).inc(count)
        if report.dead:
            DEAD_LETTERS.inc(len(report.dead))

    def serve(self, host: str, port: int) -> None:
        """Serve the metrics on http://host:port/metrics and start sampling the lag."""
        self._server, _thread = start_http_server(port, addr=host, registry=REGISTRY)
        self._sampler = threading.Thread(target=self._sample, name="lag-sampler", daemon=True)
        self._sampler.start()

    def close(self) -> None:
        self._stop.set()
        if self._sampler is not None:
            self._sampler.join(timeout=self._kafka.produce_timeout_s + 5)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def sample_lag(self) -> int:
        """Read the lag of every partition now into the gauge; the total."""
        rows = consumer_lag(self._engine, self._kafka)
        for partition, stored, end in rows:
            LAG.labels(str(partition)).set(max(end - stored, 0))
        return sum(max(end - stored, 0) for _, stored, end in rows)

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample_lag()
            except Exception as exc:  # the broker or the database is down: say so, try again
                log.warning("could not read the consumer lag: %s", exc)
            self._stop.wait(self._lag_every_s)
