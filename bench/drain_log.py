"""The drain benchmark's log: a show's mix of ballots in the order they were cast, what the
model's own rules make of each (`Expected`), and producing them as the API does."""

import random
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from confluent_kafka import Producer

from config import KafkaSettings
from model.ballot import Ballot, new_vote_id
from model.ratelimit import admit
from model.vote import VoteMode
from pipeline.kafka.codec import encode_ballot, record_key
from pipeline.kafka.producer import producer_config


@dataclass
class Expected:
    counted: Counter[tuple[int, str]]  # (nominee, mode) → votes
    refused: Counter[str]  # reason → votes


def make_log(
    records: int, pid: int, nominees: list[int], start: datetime, seed: int = 7
) -> tuple[list[Ballot], Expected]:
    """The ballots in the order they were cast, and what the rules make of them."""
    rng = random.Random(seed)
    span_ms = 2 * 3600 * 1000
    cast: list[tuple[int, str, int, str | None]] = []  # (ms, voter, nominee, cpf_hash)
    unico = records // 5
    torcida = records - unico
    # Bursts: voters who send 20 votes inside 40 s, so 10 of them are refused.
    bursty = max(1, records // 20 // 10)
    burst_votes = min(bursty * 20, torcida)
    for b in range(bursty):
        at = rng.randrange(span_ms - 60_000)
        nominee = rng.choice(nominees)
        cast.extend((at + k * 2_000, f"burst-{b}", nominee, None) for k in range(20))
    voters = [f"fan-{i}" for i in range(200_000)]
    for _ in range(torcida - burst_votes):
        cast.append((rng.randrange(span_ms), rng.choice(voters), rng.choice(nominees), None))
    repeats = unico // 100
    cpfs: list[tuple[str, int]] = []
    for i in range(unico - repeats):
        cpfs.append((uuid.UUID(int=rng.getrandbits(128)).hex * 2, rng.choice(nominees)))
        cast.append((rng.randrange(span_ms), f"device-{i}", cpfs[-1][1], cpfs[-1][0]))
    for i in range(repeats):
        at = rng.randrange(span_ms)
        repeated, nominee = rng.choice(cpfs)
        # Later than anything: the first vote of this CPF is certainly the one that counts.
        cast.append((span_ms + 1 + at % 1000, f"again-{i}", nominee, repeated))
    cast.sort(key=lambda c: c[0])

    expected = Expected(Counter(), Counter())
    windows: dict[str, tuple[int, ...]] = defaultdict(tuple)
    seen_cpfs: set[str] = set()
    ballots = []
    for ms, voter, nominee, cpf in cast:
        mode = VoteMode.torcida if cpf is None else VoteMode.unico
        if cpf is None:
            decision = admit(windows[voter], ms)
            if decision.allowed:
                windows[voter] = decision.recent
                expected.counted[(nominee, mode.value)] += 1
            else:
                expected.refused["rate_limited"] += 1
        elif cpf in seen_cpfs:
            expected.refused["cpf_already_voted"] += 1
        else:
            seen_cpfs.add(cpf)
            expected.counted[(nominee, mode.value)] += 1
        ballots.append(
            Ballot(
                vote_id=new_vote_id(),
                client_vote_id=False,
                paredao_id=pid,
                nominee_id=nominee,
                mode=mode,
                voter_id=voter,
                cpf_hash=cpf,
                captcha=None,
                cast_at=start + timedelta(milliseconds=ms),
            )
        )
    return ballots, expected


def produce(kafka: KafkaSettings, ballots: list[Ballot]) -> float:
    """Send every ballot as the API does (its key and encoder, idempotent, acks=all)."""
    producer = Producer({**producer_config(kafka), "linger.ms": 20, "batch.size": 1_000_000})
    failures: list[str] = []

    def delivered(error: object, _message: object) -> None:
        if error is not None:
            failures.append(str(error))

    started = time.monotonic()
    for ballot in ballots:
        while True:
            try:
                producer.produce(
                    kafka.topic,
                    value=encode_ballot(ballot),
                    key=record_key(ballot),
                    on_delivery=delivered,
                )
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(120) or failures:
        raise SystemExit(f"produce failed: {failures[:3]}")
    return time.monotonic() - started
