"""The benchmark's fresh topics: created (with every partition led) and deleted through
confluent-kafka's AdminClient when it is installed, else through aiokafka's."""

import asyncio
import time
from collections.abc import Callable
from typing import Any


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    try:
        from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined,import-untyped,import-not-found,unused-ignore]
    except ImportError:
        asyncio.run(_aiokafka_admin(bootstrap, topic, partitions, delete=False))
        return
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 4})
    futures = admin.create_topics([NewTopic(topic, partitions, 1)], operation_timeout=30)
    futures[topic].result(timeout=60)
    _wait_for_leaders(lambda: admin.list_topics(topic, timeout=10).topics[topic], partitions)


def _wait_for_leaders(describe: Callable[[], Any], partitions: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        meta = describe()
        if (
            meta.error is None
            and len(meta.partitions) == partitions
            and all(p.leader >= 0 for p in meta.partitions.values())
        ):
            return
        time.sleep(0.1)
    raise RuntimeError("topic has no leaders after 30 s")


def delete_topic(bootstrap: str, topic: str) -> None:
    try:
        from confluent_kafka.admin import AdminClient  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        asyncio.run(_aiokafka_admin(bootstrap, topic, 0, delete=True))
        return
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 4})
    admin.delete_topics([topic], operation_timeout=30)[topic].result(timeout=60)


async def _aiokafka_admin(bootstrap: str, topic: str, partitions: int, *, delete: bool) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # type: ignore[import-untyped,import-not-found,unused-ignore]

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if delete:
            await admin.delete_topics([topic])
        else:
            await admin.create_topics([NewTopic(topic, partitions, 1)])
            await asyncio.sleep(1.0)  # let the leaders be elected
    finally:
        await admin.close()
