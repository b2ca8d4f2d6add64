"""The Kafka path: the API's producer and the topics (`producer`), the records (`codec`), the
consumer group's loop (`consumer`) apart from its message handler (`handler`), its metrics,
and the brokers' readiness probe."""
