"""Whether the Kafka brokers answer, for the API's readiness (`/readyz`, Kafka path)."""

import threading

from confluent_kafka.admin import AdminClient

from config import KafkaSettings
from pipeline.kafka.producer import QUIET, partition_count


class BrokerProbe:
    """Asks the brokers for the votes topic's metadata: they answer, and the topic exists.
    One client for the process's life (made on first use), not one per probe."""

    def __init__(self, kafka: KafkaSettings, timeout_s: float = 2.0) -> None:
        self._kafka = kafka
        self._timeout_s = timeout_s
        self._admin: AdminClient | None = None
        self._lock = threading.Lock()

    def check(self) -> None:
        """Returns if the brokers answer; raises (KafkaException, RuntimeError) if not."""
        with self._lock:
            if self._admin is None:
                self._admin = AdminClient({"bootstrap.servers": self._kafka.bootstrap, **QUIET})
            partition_count(self._admin, self._kafka.topic, timeout_s=self._timeout_s)
