"""The consumer's Python per vote, piece by piece, without a broker or a database: what one
batch of the drain's mix (`bench.drain_log`) costs to decode, to put in insert order and to
pass through the torcida limit. The best of `--repeat` rounds, in µs per record (or per voto
da torcida for the limit).

    .venv/bin/python -m bench.consumer_python [--batch 20000] [--repeat 15]
"""

import argparse
import timeit
from collections.abc import Callable
from datetime import UTC, datetime

from bench.common import machine
from bench.drain_log import make_log
from db.torcida import PartitionWindows
from db.vote_statements_postgres import PostgresVoteStatements
from model.vote import VoteMode
from pipeline.kafka.codec import encode_ballot, record_key
from pipeline.kafka.handler import Record, decode_batch


def best_us(work: Callable[[], object], repeat: int, per: int) -> float:
    return min(timeit.repeat(work, number=1, repeat=repeat)) / per * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    print(machine())
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ballots, _ = make_log(args.batch * 5, 1, [1, 2, 3], start)
    ballots = ballots[: args.batch]
    records = [
        Record("votes", i % 6, i // 6, record_key(b), encode_ballot(b))
        for i, b in enumerate(ballots)
    ]
    n = len(records)
    print(f"decode_batch: {best_us(lambda: decode_batch(records), args.repeat, n):.2f} µs/record")
    decoded = decode_batch(records)
    statements = PostgresVoteStatements(None, decoded.ballots)  # type: ignore[arg-type]
    everyone = list(range(len(decoded.ballots)))
    order = best_us(lambda: statements.insert_sorted(everyone), args.repeat, n)
    print(f"insert order: {order:.2f} µs/record")
    fans = [i for i, b in enumerate(decoded.ballots) if b.mode == VoteMode.torcida]

    class NothingStored:
        """A database without votes, for the windows' first read."""

        def torcida_votes_since(self, paredao_id: int, since: datetime) -> list[object]:
            return []

    def limit() -> dict[int, int]:
        return PartitionWindows().admit(NothingStored(), decoded.ballots, fans)  # type: ignore[arg-type]

    refused = len(limit())
    print(
        f"torcida limit: {best_us(limit, args.repeat, len(fans)):.2f} µs/voto da torcida"
        f" ({len(fans)} votes, {refused} refused)"
    )


if __name__ == "__main__":
    main()
