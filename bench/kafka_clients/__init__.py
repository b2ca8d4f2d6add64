"""Produce and consume throughput of the Python Kafka clients against a real broker.

Start a broker first (deploy/kafka/start.sh), then, in a venv that has the clients
(pip install confluent-kafka aiokafka):

    python -m bench.kafka_clients --bootstrap 127.0.0.1:9092 --messages 200000

Each client gets its own fresh topic (created, then deleted) and does:
  produce  N ~200-byte JSON votes with acks=all and idempotence on, and waits for every
           delivery report (the time runs until the last one is in; any error fails the run);
  consume  them back in a new consumer group, auto commit off, one synchronous commit after
           each batch of up to --batch records (the time runs from subscribe, so it includes
           the group join, to the last commit), checking every key came back exactly once and
           that the committed offsets add up to N.

Clients: `confluent` (confluent-kafka's Producer/Consumer, librdkafka), `confluent-aio`
(confluent-kafka's asyncio wrappers, confluent_kafka.aio) and `aiokafka` (pure asyncio).
Producers use linger 5 ms (librdkafka's default; aiokafka's default is 0) and otherwise
each client's defaults. confluent-aio keeps at most 50000 records in flight (see below).

librdkafka's consumer stops fetching a partition for fetch.queue.backoff.ms (default 1000 ms)
whenever its prefetch queue is over queued.min.messages (default 100000): draining a large
backlog then stalls about one second. --fetch-queue-backoff-ms 10 shows the rate without it.
"""
