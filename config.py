"""Settings of the Paredão API, read once from the environment (and a local `.env`)."""

from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from model.captcha import MAX_NUMBER as CAPTCHA_MAX_NUMBER
from model.keys import MIN_SECRET_LENGTH, Keys


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap: str
    topic: str
    partitions: int = 6
    replication: int = 1
    min_insync_replicas: int = 1
    produce_timeout_s: float = 5.0
    group_id: str = "paredao-votes"

    @property
    def dead_letter_topic(self) -> str:
        return f"{self.topic}.dead-letters"


class Settings(BaseSettings):
    """Everything the API reads from its environment.

    There is deliberately no default admin token and no default secret key: `make run`
    generates both into a git-ignored `.env` on first start.
    """

    # hide_input_in_errors: a refused secret is never printed back.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", hide_input_in_errors=True)

    database_url: str = Field(
        default="sqlite:///./paredao.db",
        validation_alias="DATABASE_URL",
        description="SQLAlchemy URL of the database (SQLite file or PostgreSQL).",
    )
    admin_token: SecretStr | None = Field(
        default=None,
        validation_alias="PAREDAO_ADMIN_TOKEN",
        description="Bearer token for admin calls; admin calls are refused while unset.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        validation_alias="PAREDAO_SECRET_KEY",
        description="Key for the CPF keyed hash and for signing captcha challenges.",
    )
    previous_secret_keys: SecretStr | None = Field(
        default=None,
        validation_alias="PAREDAO_PREVIOUS_SECRET_KEYS",
        description="Earlier values of PAREDAO_SECRET_KEY, comma-separated, newest first: "
        "their CPF keys are kept for the paredões that began under them (a paredão hashes "
        "CPFs with one key for life). Keep each until those paredões have closed.",
    )
    captcha_max_number: int = Field(
        default=100_000,
        ge=1,
        validation_alias="PAREDAO_CAPTCHA_MAX_NUMBER",
        description="Proof-of-work difficulty: a browser tries ~half of this many hashes.",
    )
    captcha_raise_above_per_s: float = Field(
        default=200,
        gt=0,
        validation_alias="PAREDAO_CAPTCHA_RAISE_ABOVE_PER_S",
        description="Challenges issued per second, per worker, above which the proof of work "
        "gets harder: each doubling of the rate doubles PAREDAO_CAPTCHA_MAX_NUMBER.",
    )
    captcha_max_doublings: int = Field(
        default=3,
        ge=0,
        le=13,
        validation_alias="PAREDAO_CAPTCHA_MAX_DOUBLINGS",
        description="How many times the difficulty may double under load (3: up to 8×, about "
        "4 s of a browser's CPU at the default; 0: a fixed difficulty).",
    )
    captcha_rate_window_s: int = Field(
        default=10,
        ge=1,
        le=600,
        validation_alias="PAREDAO_CAPTCHA_RATE_WINDOW_S",
        description="The sliding window the challenge rate is measured over: how fast the "
        "difficulty rises and falls back.",
    )
    captcha_ttl_s: int = Field(
        default=120,
        ge=10,
        validation_alias="PAREDAO_CAPTCHA_TTL_S",
        description="How long a captcha challenge can be solved and spent (the page fetches "
        "a fresh one before it expires).",
    )
    captcha_per_minute: int = Field(
        default=60,
        ge=1,
        validation_alias="PAREDAO_CAPTCHA_PER_MINUTE",
        description="Challenges per minute per client address, per worker (in memory).",
    )
    results_cache_s: float = Field(default=1.0, ge=0, validation_alias="PAREDAO_RESULTS_CACHE_S")
    vote_queue_size: int = Field(default=10_000, ge=1, validation_alias="PAREDAO_VOTE_QUEUE_SIZE")
    vote_batch_max: int = Field(default=1000, ge=1, validation_alias="PAREDAO_VOTE_BATCH_MAX")
    vote_batch_wait_s: float = Field(
        default=0.001, ge=0, validation_alias="PAREDAO_VOTE_BATCH_WAIT_S"
    )
    vote_deadline_s: float = Field(
        default=1.5,
        gt=0,
        validation_alias="PAREDAO_VOTE_DEADLINE_S",
        description="A vote not stored within this time is answered 503 + Retry-After and "
        "is never stored afterwards (load is shed by time, not by queue length).",
    )
    vote_writer: Literal["loop", "process", "thread"] = Field(
        default="loop",
        validation_alias="PAREDAO_VOTE_WRITER",
        description="On a SQLite file, the direct path's votes are stored by each worker on "
        "its event loop, in turns with the other workers (`loop`: the least CPU per vote), "
        "by one writer process per database (`process`, started by the first worker) or by "
        "a writer thread in each worker (`thread`). PostgreSQL always uses the thread.",
    )
    prune_interval_s: float = Field(
        default=300,
        ge=0,
        validation_alias="PAREDAO_PRUNE_INTERVAL_S",
        description="How often each worker prunes expired captcha spends, idle torcida "
        "budgets and ended sessions (0: never; `python main.py prune` does it once).",
    )
    prune_margin_s: float = Field(
        default=3600,
        ge=0,
        validation_alias="PAREDAO_PRUNE_MARGIN_S",
        description="Rows are kept this much longer than they can matter (on the Kafka path, "
        "more than the consumer's lag).",
    )
    db_busy_timeout_s: float = Field(
        default=5.0,
        gt=0,
        validation_alias="PAREDAO_DB_BUSY_TIMEOUT_S",
        description="SQLite: how long a statement waits for another connection's lock.",
    )
    ingest: Literal["direct", "kafka"] = Field(
        default="direct",
        validation_alias="PAREDAO_INGEST",
        description="direct: votes are committed to the database before the 202; kafka: the "
        "202 follows the brokers' acknowledgement and `python main.py consumer` stores them.",
    )
    voter_auth: Literal["anonymous", "jwt"] = Field(
        default="anonymous",
        validation_alias="PAREDAO_VOTER_AUTH",
        description="anonymous: the limits bind to the voter_id the client sends (a device "
        "id); jwt: votes carry a bearer token of the show's identity provider, verified "
        "locally, and the limits bind to its subject.",
    )
    unico_per_device: int = Field(
        default=1,
        ge=1,
        validation_alias="PAREDAO_UNICO_PER_DEVICE",
        description="anonymous mode: votos únicos a voter_id (a device) may cast per paredão, "
        "each with its own CPF (a family sharing a phone may need more); past it, 409 "
        "device_already_voted. Not used in jwt mode, where an account casts one.",
    )
    jwt_key_file: Path | None = Field(
        default=None,
        validation_alias="PAREDAO_JWT_KEY_FILE",
        description="jwt mode: the provider's public key, a PEM file or a JWKS JSON file.",
    )
    jwt_issuer: str | None = Field(default=None, validation_alias="PAREDAO_JWT_ISSUER")
    jwt_audience: str | None = Field(default=None, validation_alias="PAREDAO_JWT_AUDIENCE")
    jwt_algorithms: str = Field(
        default="RS256,ES256",
        validation_alias="PAREDAO_JWT_ALGORITHMS",
        description="jwt mode: the signature algorithms taken, comma-separated.",
    )
    kafka_bootstrap: str = Field(default="127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP")
    kafka_topic: str = Field(default="paredao.votes", validation_alias="PAREDAO_KAFKA_TOPIC")
    kafka_partitions: int = Field(default=6, ge=1, validation_alias="PAREDAO_KAFKA_PARTITIONS")
    kafka_replication: int = Field(default=1, ge=1, validation_alias="PAREDAO_KAFKA_REPLICATION")
    kafka_min_insync: int = Field(default=1, ge=1, validation_alias="PAREDAO_KAFKA_MIN_INSYNC")
    kafka_timeout_s: float = Field(default=5.0, gt=0, validation_alias="PAREDAO_KAFKA_TIMEOUT_S")
    kafka_group: str = Field(default="paredao-votes", validation_alias="PAREDAO_KAFKA_GROUP")
    kafka_outage_grace_s: float = Field(
        default=300,
        ge=0,
        validation_alias="PAREDAO_KAFKA_OUTAGE_GRACE_S",
        description="Kafka path: while the database cannot be reached (a restart, a "
        "failover), votes for a paredão this worker read within this many seconds are still "
        "logged and answered 202 queued from what it read; the consumer decides them when the "
        "database is back. Any other vote is a 503 with Retry-After (0: every vote then).",
    )
    consumer_batch_max: int = Field(
        default=20_000, ge=1, validation_alias="PAREDAO_CONSUMER_BATCH_MAX"
    )
    max_body_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        validation_alias="PAREDAO_MAX_BODY_BYTES",
        description="Largest request body taken (413 past it), read before any route runs.",
    )
    limit_concurrency: int = Field(
        default=1000,
        ge=1,
        validation_alias="PAREDAO_LIMIT_CONCURRENCY",
        description="Requests in flight per worker; past it, 503 with Retry-After at once. "
        "`python main.py serve` gives uvicorn twice this as --limit-concurrency.",
    )
    consumer_metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        validation_alias="PAREDAO_CONSUMER_METRICS_PORT",
        description="Where `python main.py consumer` serves its /metrics (on PAREDAO_HOST); "
        "unset: not served.",
    )
    workers: int = Field(default=1, ge=1, validation_alias="PAREDAO_WORKERS")
    host: str = Field(default="127.0.0.1", validation_alias="PAREDAO_HOST")
    port: int = Field(default=8000, validation_alias="PAREDAO_PORT")

    @property
    def kafka(self) -> KafkaSettings:
        return KafkaSettings(
            bootstrap=self.kafka_bootstrap,
            topic=self.kafka_topic,
            partitions=self.kafka_partitions,
            replication=self.kafka_replication,
            min_insync_replicas=self.kafka_min_insync,
            produce_timeout_s=self.kafka_timeout_s,
            group_id=self.kafka_group,
        )

    @property
    def device_unico_limit(self) -> int | None:
        """The votos únicos a voter_id may cast per paredão, where a device id is all that
        identifies a voter (anonymous mode); None in jwt mode, where the account's own unique
        index binds it to one."""
        return self.unico_per_device if self.voter_auth == "anonymous" else None

    @field_validator("admin_token", "secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        """A short secret is guessable: refuse to start with one, saying how to make one."""
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            name = {"admin_token": "PAREDAO_ADMIN_TOKEN", "secret_key": "PAREDAO_SECRET_KEY"}
            raise ValueError(
                f"{name[str(info.field_name)]} must be at least {MIN_SECRET_LENGTH} characters; "
                "make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))' "
                "(make run generates both into .env)"
            )
        return value

    @field_validator("previous_secret_keys")
    @classmethod
    def _each_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        """Each previous secret was once PAREDAO_SECRET_KEY: held to the same minimum."""
        if value is not None:
            for position, secret in enumerate(_split(value), start=1):
                if len(secret) < MIN_SECRET_LENGTH:
                    raise ValueError(
                        f"PAREDAO_PREVIOUS_SECRET_KEYS: secret {position} is shorter than "
                        f"{MIN_SECRET_LENGTH} characters (the secrets are comma-separated)"
                    )
        return value

    @model_validator(mode="after")
    def _hardest_captcha_is_solvable(self) -> Self:
        hardest = self.captcha_max_number << self.captcha_max_doublings
        if hardest > CAPTCHA_MAX_NUMBER:
            raise ValueError(
                f"PAREDAO_CAPTCHA_MAX_NUMBER doubled PAREDAO_CAPTCHA_MAX_DOUBLINGS times is "
                f"{hardest}, past the largest solution taken ({CAPTCHA_MAX_NUMBER})"
            )
        return self

    @model_validator(mode="after")
    def _jwt_mode_is_complete(self) -> Self:
        if self.voter_auth == "jwt":
            missing = [
                name
                for name, value in (
                    ("PAREDAO_JWT_KEY_FILE", self.jwt_key_file),
                    ("PAREDAO_JWT_ISSUER", self.jwt_issuer),
                    ("PAREDAO_JWT_AUDIENCE", self.jwt_audience),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"PAREDAO_VOTER_AUTH=jwt needs {', '.join(missing)}")
        return self

    @property
    def secret_bytes(self) -> bytes:
        """The secret key; votes cannot be taken without one."""
        if self.secret_key is None:
            raise RuntimeError("PAREDAO_SECRET_KEY is not set (make run generates one into .env)")
        return self.secret_key.get_secret_value().encode()

    @property
    def previous_secrets(self) -> tuple[str, ...]:
        """The earlier secret keys (PAREDAO_PREVIOUS_SECRET_KEYS), newest first."""
        return _split(self.previous_secret_keys) if self.previous_secret_keys else ()

    @cached_property
    def keys(self) -> Keys:
        """The keys derived from the secret key, one per purpose, with the CPF keys of the
        previous secrets kept in the ring (`model.keys`)."""
        return Keys.derive(self.secret_bytes, [s.encode() for s in self.previous_secrets])


def _split(secrets: SecretStr) -> tuple[str, ...]:
    return tuple(s.strip() for s in secrets.get_secret_value().split(",") if s.strip())


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    return Settings()
