"""Vote benchmark: durable votes/s and latency against no-op baselines, and a count check.

Starts the API as a user would (N uvicorn workers, embedded SQLite unless DATABASE_URL is
set), opens a paredão without captcha, loads POST /votes with wrk at each concurrency with
a distinct voter per request, and checks that the votes stored equal the 202s wrk counted.
Then loads a FastAPI no-op route and a raw ASGI no-op with the same body and settings.

    .venv/bin/python -m bench.votes [--duration 10] [--connections 64,256] [--workers 2]
"""

import argparse
import os
import platform
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
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
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
        f" {args.duration} s per run"
    )
    rows: list[tuple[str, int, dict[str, float]]] = []
    all_exact = True

    def measured(server: Server, script: str, c: int, lua_env: dict[str, str]) -> dict[str, float]:
        """One wrk run, with the CPU every process of the server used per answered request,
        and the share of the machine left idle meanwhile (what the server waited for)."""
        before, box = server.cpu_seconds(), box_ticks()
        r = wrk(server.url, script, c, args.duration, lua_env)
        r["idle"] = idle_share(box, box_ticks())
        used = cpu_used(before, server.cpu_seconds())
        r["cpu_us"] = used * 1e6 / max(r["accepted"], 1)
        return r

    logs = workdir / "server.log"
    print(f"each server as shipped: a JSON line per request into {logs}, metrics multiprocess")
    with Server(
        "--factory main:create_app", args.workers, env, args.server, shipped=True, log_path=logs
    ) as api:
        pid, nominees = open_paredao(api.url)
        lua_env = {"PAREDAO_ID": str(pid), "NOMINEES": ",".join(map(str, nominees))}
        before = stored_votes(api.url, pid)
        for c in concurrencies:
            # Timed run: wrk cuts off at the deadline, so the votes in flight then may be
            # stored without their 202 being read: stored must lie in [acked, sent].
            r = measured(api, "vote.lua", c, lua_env)
            after = stored_votes(api.url, pid)
            stored, acked, sent = after - before, r["accepted"], r["sent"]
            ok = acked <= stored <= sent and r["other"] == 0
            errors = f", {r['errors']:.0f} socket errors" if r["errors"] else ""
            all_exact &= ok
            in_flight = sent - r["requests"]
            print(
                f"votes c={c}: {acked:.0f} acknowledged, {stored:.0f} stored, {in_flight:.0f}"
                f" in flight at wrk's cut-off{errors} -> {'OK' if ok else 'LOST OR EXTRA VOTES'}"
                " (no acknowledged vote lost, none stored beyond those sent)"
            )
            before = after
            rows.append(("durable votes", c, r))
        # Exact run: every thread sends a fixed number of votes, then only GETs until wrk
        # stops, so every vote is answered: stored must equal acknowledged exactly.
        # Long enough for every vote at the rate just measured (with room to spare): a run
        # cut off with votes in flight could not be exact.
        first = rows[0][2]
        rate_seen = max(first["accepted"] / first["duration_s"], 1.0)
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

    for label, app in (
        ("FastAPI no-op", "bench.noop_apps:fastapi_noop"),
        ("raw ASGI no-op", "bench.noop_apps:raw_noop"),
    ):
        with Server(app, args.workers, env, args.server, shipped=True, log_path=logs) as noop:
            for c in concurrencies:
                rows.append((label, c, measured(noop, "vote.lua", c, {"PAREDAO_ID": "1"})))

    print()
    print(
        f"server: {args.server}; CPU µs: all the server's processes, per answered request;"
        " idle %: the machine's CPU left idle during the run (waiting, not working)"
    )
    header = f"{'what':<16} {'c':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}"
    print(f"{header} {'CPU µs':>8} {'idle %':>7}")
    rate: dict[tuple[str, int], float] = {}
    for label, c, r in rows:
        answered = r.get("accepted", 0)
        rate[(label, c)] = answered / r["duration_s"]
        p50, p99, other = r["p50_ms"], r["p99_ms"], r["other"]
        print(
            f"{label:<16} {c:>4} {rate[(label, c)]:>9.0f} {p50:>8.2f} {p99:>8.2f} {other:>8.0f}"
            f" {r['cpu_us']:>8.0f} {100 * r['idle']:>7.1f}"
        )
    print()
    for c in concurrencies:
        votes = rate[("durable votes", c)]
        print(
            f"c={c}: durable votes / FastAPI no-op = {votes / rate[('FastAPI no-op', c)]:.2f}, "
            f"/ raw ASGI no-op = {votes / rate[('raw ASGI no-op', c)]:.2f}"
        )
    print(f"count check (stored vs acknowledged) passed in every run: {all_exact}")
    if not all_exact:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
