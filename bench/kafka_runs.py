"""The measured runs of the Kafka benchmark: a timed wrk run of votes, a direct-path run
(an API of its own), and the 202 → counted latency of votes sampled one by one."""

import asyncio
import statistics
import time
import uuid
from dataclasses import dataclass

import httpx

from bench.common import Server, wrk
from bench.votes import open_paredao, stored_votes

# 202 → counted: a few votes in flight, each read every 10 ms. More pollers, or faster ones,
# load the 2 workers with status reads and the latency measured becomes theirs (8 pollers
# every 5 ms: p50 ~180 ms on a loaded machine where one at a time gives ~35 ms).
SAMPLERS = 4
POLL_S = 0.01


@dataclass
class Run:
    label: str
    rate: float  # acknowledged votes/s
    p50_ms: float
    p99_ms: float
    acked: int
    stored: int
    sent: int
    other: int

    @classmethod
    def of(cls, label: str, r: dict[str, float], stored: int) -> "Run":
        """The run wrk measured (`r`), with the votes the API then said it stored."""
        return cls(
            label,
            r["accepted"] / r["duration_s"],
            r["p50_ms"],
            r["p99_ms"],
            int(r["accepted"]),
            stored,
            int(r["sent"]),
            int(r["other"]),
        )

    @property
    def counts_ok(self) -> bool:
        """A timed run: what wrk cut off may be stored without its 202 read."""
        return self.acked <= self.stored <= self.sent and self.other == 0


def vote_env(pid: int, nominees: list[int]) -> dict[str, str]:
    """What vote.lua needs: the paredão and its nominees."""
    return {"PAREDAO_ID": str(pid), "NOMINEES": ",".join(map(str, nominees))}


def timed_run(
    label: str, api: str, pid: int, nominees: list[int], c: int, duration: int
) -> dict[str, float]:
    r = wrk(api, "vote.lua", c, duration, vote_env(pid, nominees))
    print(
        f"{label}: {r['accepted']:.0f} acknowledged in {r['duration_s']:.1f} s,"
        f" p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, {r['other']:.0f} non-202",
        flush=True,
    )
    return r


def direct_run(label: str, env: dict[str, str], c: int, duration: int, workers: int) -> Run:
    """A timed run against an API of its own on the direct path (`env` names its database)."""
    with Server("--factory main:create_app", workers, env) as api:
        pid, nominees = open_paredao(api.url)
        r = timed_run(label, api.url, pid, nominees, c, duration)
        return Run.of(label, r, stored_votes(api.url, pid))


async def end_to_end(api: str, pid: int, nominees: list[int], samples: int) -> list[float]:
    """Milliseconds from each vote's 202 to the first read of it as `counted`."""
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(base_url=api, timeout=10, limits=limits) as client:

        async def one(i: int) -> None:
            vote_id = uuid.uuid4()
            body = {
                "nominee_id": nominees[i % len(nominees)],
                "mode": "torcida",
                "voter_id": f"e2e-{vote_id.hex}",
                "vote_id": str(vote_id),
            }
            r = await client.post(f"/paredoes/{pid}/votes", json=body)
            r.raise_for_status()
            acked = time.monotonic()
            while time.monotonic() - acked < 30:
                status = (await client.get(f"/paredoes/{pid}/votes/{vote_id}")).json()
                if status["status"] == "counted":
                    latencies.append((time.monotonic() - acked) * 1000)
                    return
                if status["status"] == "refused":
                    raise SystemExit(f"a sampled vote was refused: {status}")
                await asyncio.sleep(POLL_S)
            raise SystemExit(f"vote {vote_id} not counted 30 s after its 202")

        queue = iter(range(samples))

        async def worker() -> None:
            for i in queue:
                await one(i)
                await asyncio.sleep(0.02)  # a trickle, not a burst: latency, not queueing

        await asyncio.gather(*(worker() for _ in range(SAMPLERS)))
    return latencies


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]
