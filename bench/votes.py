"""Vote benchmark: durable votes/s and latency against no-op baselines, and a count check.

Starts the API as a user would (N uvicorn workers, embedded SQLite unless DATABASE_URL is
set), opens a paredão without captcha, and loads POST /votes with wrk at each concurrency
with a distinct voter per request, checking that the votes stored equal the 202s wrk
counted. A FastAPI no-op route and a raw ASGI no-op, with the same body and settings, run
beside it; the three are loaded in turn, slice by slice (each slice in another order), so
that a shared machine's drift from one minute to the next hits all three alike and the
ratio compares like with like.

    .venv/bin/python -m bench.votes [--duration 10] [--slices 5] [--connections 64,256]
                                    [--workers 2]
"""

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import (
    ADMIN_TOKEN,
    SECRET_KEY,
    SERVERS,
    Server,
    box_ticks,
    cpu_used,
    idle_share,
    wrk,
)
from db.migrate import upgrade_to_head

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def open_paredao(api: str) -> tuple[int, list[int]]:
    ids = []
    for i in range(3):
        body = {
            "name": f"Nominee {i}", "email": f"bench{i}-{os.getpid()}@example.com",
            "birth_date": "1990-01-01", "state": "SP", "city": "São Paulo",
        }  # fmt: skip
        r = httpx.post(f"{api}/candidates", json=body)
        r.raise_for_status()
        ids.append(r.json()["id"])
        httpx.patch(f"{api}/candidates/{ids[-1]}", json={"status": "housemate"}, headers=ADMIN)
    r = httpx.post(
        f"{api}/paredoes",
        json={"title": "Bench", "kind": "eliminate", "nominee_ids": ids, "require_captcha": False},
        headers=ADMIN,
    )
    r.raise_for_status()
    pid = r.json()["id"]
    httpx.post(f"{api}/paredoes/{pid}/open", headers=ADMIN).raise_for_status()
    return pid, ids


def stored_votes(api: str, pid: int) -> int:
    """The votes stored, counted from the raw rows (the recount: exact, never cached), once
    the count has settled: requests wrk left in flight are still being stored for a moment
    after it stops. Fails if the tally disagrees with the raw rows."""
    previous = -1
    while True:
        r = httpx.post(f"{api}/paredoes/{pid}/recount", headers=ADMIN, timeout=120)
        r.raise_for_status()
        body = r.json()
        if not body["matches"]:
            raise SystemExit(f"tally and raw votes differ: {body['differences'][:5]}")
        if body["recount_total"] == previous:
            return previous
        previous = body["recount_total"]
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--duration", type=int, default=10, help="seconds of load per server and concurrency"
    )
    parser.add_argument(
        "--slices",
        type=int,
        default=5,
        help="the duration is cut into this many slices, the servers loaded in turn",
    )
    parser.add_argument("--connections", default="64,256")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--writer",
        choices=("loop", "process", "thread"),
        default=os.environ.get("PAREDAO_VOTE_WRITER", "loop"),
        help="the direct path's vote writer (PAREDAO_VOTE_WRITER)",
    )
    parser.add_argument("--server", choices=SERVERS, default="uvicorn", help="the ASGI server")
    parser.add_argument("--exact-votes", type=int, default=20_000, help="votes in the exact run")
    args = parser.parse_args()
    concurrencies = [int(c) for c in args.connections.split(",")]
    slice_s = max(1, round(args.duration / args.slices))

    workdir = Path(tempfile.mkdtemp(prefix="paredao-bench-"))
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{workdir / 'bench.db'}"
    upgrade_to_head(database_url)
    env = {
        "DATABASE_URL": database_url,
        "PAREDAO_ADMIN_TOKEN": ADMIN_TOKEN,
        "PAREDAO_SECRET_KEY": SECRET_KEY,
        "PAREDAO_VOTE_WRITER": args.writer,
    }
    print(f"machine: {platform.node()} {os.cpu_count()} cores, {platform.python_version()}")
    where = database_url.split("@")[-1]
    print(
        f"database: {where}, workers: {args.workers}, vote writer: {args.writer},"
        f" {args.slices} slices of {slice_s} s per server and concurrency, the servers in turn"
    )
    logs = workdir / "server.log"
    print(f"each server as shipped: a JSON line per request into {logs}, metrics multiprocess")
    all_exact = True
    # what, c → every slice's wrk result, with the CPU and the idle share measured around it
    slices: dict[tuple[str, int], list[dict[str, float]]] = {}

    def measured(server: Server, c: int, lua_env: dict[str, str]) -> dict[str, float]:
        """One wrk slice, with the CPU every process of the server used, and the share of
        the machine left idle meanwhile (what the server waited for)."""
        before, box = server.cpu_seconds(), box_ticks()
        r = wrk(server.url, "vote.lua", c, slice_s, lua_env)
        r["idle"] = idle_share(box, box_ticks())
        r["cpu_s"] = cpu_used(before, server.cpu_seconds())
        return r

    def shipped(app: str) -> Server:
        return Server(app, args.workers, env, args.server, shipped=True, log_path=logs)

    with (
        shipped("--factory main:create_app") as api,
        shipped("bench.noop_apps:fastapi_noop") as fastapi,
        shipped("bench.noop_apps:raw_noop") as raw,
    ):
        pid, nominees = open_paredao(api.url)
        lua_env = {"PAREDAO_ID": str(pid), "NOMINEES": ",".join(map(str, nominees))}
        servers = [
            ("durable votes", api, lua_env),
            ("FastAPI no-op", fastapi, {"PAREDAO_ID": "1"}),
            ("raw ASGI no-op", raw, {"PAREDAO_ID": "1"}),
        ]
        for _, server, env_of in servers:  # warmed up first: a first second runs cold
            wrk(server.url, "vote.lua", 64, 1, env_of)
        before = stored_votes(api.url, pid)
        for c in concurrencies:
            for turn in range(args.slices):
                # Each slice in another order: drift on a shared machine hits all alike.
                for label, server, env_of in servers[turn % 3 :] + servers[: turn % 3]:
                    r = measured(server, c, env_of)
                    slices.setdefault((label, c), []).append(r)
                    if server is not api:
                        continue
                    # wrk cuts off at the deadline, so the votes in flight then may be stored
                    # without their 202 being read: stored must lie in [acked, sent].
                    after = stored_votes(api.url, pid)
                    stored, acked, sent = after - before, r["accepted"], r["sent"]
                    ok = acked <= stored <= sent and r["other"] == 0
                    all_exact &= ok
                    if not ok:
                        print(
                            f"votes c={c}, slice {turn + 1}: {acked:.0f} acknowledged,"
                            f" {stored} stored, {sent:.0f} sent -> LOST OR EXTRA VOTES"
                        )
                    before = after
            runs = slices[("durable votes", c)]
            print(
                f"votes c={c}: {sum(r['accepted'] for r in runs):.0f} acknowledged in"
                f" {len(runs)} slices, each stored, none beyond those sent:"
                f" {'OK' if all_exact else 'NO'}"
            )
        # Exact run: every thread sends a fixed number of votes, then only GETs until wrk
        # stops, so every vote is answered: stored must equal acknowledged exactly.
        # Long enough for every vote at the rate just measured (with room to spare): a run
        # cut off with votes in flight could not be exact.
        first = slices[("durable votes", concurrencies[0])]
        rate_seen = max(sum(r["accepted"] for r in first) / sum(r["duration_s"] for r in first), 1)
        exact_s = max(args.duration, int(args.exact_votes / rate_seen * 1.5) + 3)
        budget = {"VOTE_BUDGET": str(args.exact_votes // 2)}
        r = wrk(api.url, "vote.lua", 64, exact_s, {**lua_env, **budget})
        after = stored_votes(api.url, pid)
        exact = after - before == r["accepted"] and r["other"] == 0
        all_exact &= exact
        print(
            f"exact run c=64: {r['sent']:.0f} votes sent, {r['accepted']:.0f} acknowledged (202), "
            f"{after - before} stored -> {'EXACT' if exact else 'MISMATCH'}"
        )

    print()
    print(
        f"server: {args.server}; over every slice: req/s, p50 (the slices' median), p99 (the"
        " worst slice's), CPU µs (all the server's processes, per answered request) and idle %"
        " (the machine's CPU left idle: waiting, not working)"
    )
    header = f"{'what':<16} {'c':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}"
    print(f"{header} {'CPU µs':>8} {'idle %':>7}")
    rate: dict[tuple[str, int], float] = {}
    for (label, c), runs in slices.items():
        answered = sum(r["accepted"] for r in runs)
        rate[(label, c)] = answered / sum(r["duration_s"] for r in runs)
        p50 = statistics.median(r["p50_ms"] for r in runs)
        p99 = max(r["p99_ms"] for r in runs)
        other = sum(r["other"] for r in runs)
        cpu_us = sum(r["cpu_s"] for r in runs) * 1e6 / max(answered, 1)
        idle = statistics.fmean(r["idle"] for r in runs)
        print(
            f"{label:<16} {c:>4} {rate[(label, c)]:>9.0f} {p50:>8.2f} {p99:>8.2f} {other:>8.0f}"
            f" {cpu_us:>8.0f} {100 * idle:>7.1f}"
        )
    print()
    for c in concurrencies:
        votes = rate[("durable votes", c)]
        # The same slice's ratio: the votes' and the no-op's, measured seconds apart.
        each = [
            v["accepted"] / v["duration_s"] / (n["accepted"] / n["duration_s"])
            for v, n in zip(slices[("durable votes", c)], slices[("FastAPI no-op", c)], strict=True)
        ]
        print(
            f"c={c}: durable votes / FastAPI no-op = {votes / rate[('FastAPI no-op', c)]:.2f}"
            f" (slice by slice {min(each):.2f}–{max(each):.2f}, median"
            f" {statistics.median(each):.2f}), / raw ASGI no-op ="
            f" {votes / rate[('raw ASGI no-op', c)]:.2f}"
        )
    print(f"count check (stored vs acknowledged) passed in every run: {all_exact}")
    if not all_exact:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
