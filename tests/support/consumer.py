"""The one way tests run a Kafka consumer in a process of its own: `python main.py consumer`,
as an operator starts it, configured by its environment alone."""

import re
import signal
import sqlite3
import time
from pathlib import Path
from typing import IO

from sqlalchemy import make_url, text

from config import KafkaSettings
from db.engine import make_engine
from tests.support.api import ADMIN_TOKEN
from tests.support.environment import clean_environment, main_process


class ConsumerProcess:
    """`python main.py consumer` in a process of its own: it runs in an empty folder (no
    `.env` there) with the repository on PYTHONPATH."""

    def __init__(
        self, database_url: str, kafka: KafkaSettings, workdir: Path, name: str, batch_max: int
    ) -> None:
        self.name = name
        self.database_url = database_url
        if not database_url.startswith("sqlite"):  # to find its transactions in pg_stat_activity
            database_url = (
                make_url(database_url)
                .update_query_dict({"application_name": self.application_name})
                .render_as_string(hide_password=False)
            )
        env = clean_environment()
        env.update(
            DATABASE_URL=database_url,
            KAFKA_BOOTSTRAP=kafka.bootstrap,
            PAREDAO_KAFKA_TOPIC=kafka.topic,
            PAREDAO_KAFKA_GROUP=kafka.group_id,
            PAREDAO_KAFKA_TIMEOUT_S=str(kafka.produce_timeout_s),
            PAREDAO_CONSUMER_BATCH_MAX=str(batch_max),
            PAREDAO_SECRET_KEY="drill-secret-key-0123456789abcdefghij",
            PAREDAO_ADMIN_TOKEN=ADMIN_TOKEN,
        )
        folder = workdir / name
        folder.mkdir()
        self.log_path = folder / "consumer.log"
        self._log: IO[bytes] = self.log_path.open("wb")
        self.process = main_process("consumer", folder, env, self._log)

    @property
    def application_name(self) -> str:
        return f"paredao-drill-{self.name}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def in_write_transaction(self) -> bool:
        """Whether this consumer is inside a batch's transaction that has written (PostgreSQL),
        or some connection holds the SQLite file's write lock (in Kafka mode only the
        consumers write votes)."""
        url = make_url(self.database_url)
        if url.get_backend_name() == "sqlite":
            probe = sqlite3.connect(url.database or "", timeout=0, isolation_level=None)
            try:
                probe.execute("BEGIN IMMEDIATE")
                probe.execute("ROLLBACK")
                return False
            except sqlite3.OperationalError:  # "database is locked": a writer is mid-batch
                return True
            finally:
                probe.close()
        engine = make_engine(self.database_url, pool_size=1)
        try:
            with engine.connect() as connection:
                return bool(
                    connection.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"
                            " AND backend_xid IS NOT NULL"
                        ),
                        {"name": self.application_name},
                    ).scalar_one()
                )
        finally:
            engine.dispose()

    def assignments(self) -> int:
        """How many times the group gave this member at least one partition."""
        return len(re.findall(r"assigned \[\(", self.log()))

    def wait_assigned(self, more_than: int = 0, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while self.assignments() <= more_than:
            if self.process.poll() is not None:
                raise AssertionError(f"consumer {self.name} exited:\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} got no partition:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye to the group; whatever it was storing is lost."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> dict[str, int]:
        """SIGTERM, as an orchestrator stops it: it stores the batch in hand, leaves the group
        and prints its stats, which are returned."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=60)
        log = self.log()
        assert code == 0, f"consumer {self.name} exited with {code}:\n{log[-3000:]}"
        stats = re.search(r"Stopped: ConsumerStats\((.*)\)", log)
        assert stats is not None, log[-3000:]
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", stats.group(1))}

    def close(self) -> None:
        """Teardown: make sure the process is gone, whatever the test did."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()
