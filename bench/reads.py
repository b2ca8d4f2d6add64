"""Read benchmark: results and stats latency with millions of stored votes, idle and under a
vote burst.

Seeds a paredão with N votes straight into SQLite (raw rows plus the tally they roll up
into, spread over 72 UTC hours), starts the API as a user would, and loads
GET /paredoes/{id}/results and GET /paredoes/{id}/stats with wrk, then results again while
another wrk sends votes. Also times one recount (the audit that does read every vote).

    .venv/bin/python -m bench.reads [--votes 10000000] [--duration 10]

With --nginx, the same seeded paredão is read through NGINX (deploy/nginx/start.sh, its
results micro-cache and all, in a run directory of its own) in front of the API workers:
results at c=8 and c=64 through NGINX, beside c=64 from the API directly, with how NGINX
answered (HIT, MISS, UPDATING, ...; read from its access log). Needs NGINX
(deploy/nginx/install.sh) besides wrk.
"""

import argparse
import atexit
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.common import ADMIN_TOKEN, ROOT, SECRET_KEY, Server, free_port, wrk
from bench.votes import ADMIN, open_paredao
from db.migrate import upgrade_to_head

START = datetime(2026, 11, 18, 22, 0, tzinfo=UTC)
HOURS = 72


def seed(path: Path, pid: int, nominees: list[int], total: int) -> None:
    """Insert `total` votes and the matching tally, in chunks, in one transaction each."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")  # seeding only; the API runs with FULL
    tally: Counter[tuple[int, str, str]] = Counter()
    chunk = 200_000
    started = time.monotonic()
    for first in range(0, total, chunk):
        rows = []
        for i in range(first, min(first + chunk, total)):
            at = START + timedelta(seconds=i * HOURS * 3600 // total)
            nominee = nominees[(i * 7 + i // 3) % len(nominees)]
            mode = "unico" if i % 5 == 0 else "torcida"
            cpf_hash = hashlib.sha256(str(i).encode()).hexdigest() if mode == "unico" else None
            vote_id = uuid.UUID(int=(int(at.timestamp() * 1000) << 80) | (7 << 76) | i)
            stamp = at.strftime("%Y-%m-%d %H:%M:%S.%f")
            rows.append((pid, vote_id.hex, nominee, mode, f"seed-{i % 1_000_000}", cpf_hash, stamp))
            tally[(nominee, mode, at.strftime("%Y-%m-%d %H:00:00.000000"))] += 1
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO votes (paredao_id, vote_id, nominee_id, mode, voter_id, cpf_hash,"
            " accepted_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        db.execute("COMMIT")
        print(
            f"  seeded {min(first + chunk, total):,} votes ({time.monotonic() - started:.0f} s)",
            flush=True,
        )
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO vote_tally (paredao_id, nominee_id, mode, hour, shard, votes)"
        " VALUES (?, ?, ?, ?, 0, ?)",
        [(pid, n, m, h, c) for (n, m, h), c in tally.items()],
    )
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def seeded_paredao(name: str, votes: int) -> tuple[Path, dict[str, str], int, list[int]]:
    """A migrated SQLite file in a temporary folder (removed at exit, 1.7 GB at 10M votes)
    holding one open paredão seeded with `votes` votes: the file, the server's environment,
    the paredão's id and its nominees."""
    path = Path(tempfile.mkdtemp(prefix=f"paredao-{name}-")) / f"{name}.db"
    atexit.register(shutil.rmtree, path.parent, ignore_errors=True)
    url = f"sqlite:///{path}"
    upgrade_to_head(url)
    env = {
        "DATABASE_URL": url,
        "PAREDAO_ADMIN_TOKEN": ADMIN_TOKEN,
        "PAREDAO_SECRET_KEY": SECRET_KEY,
    }
    with Server("--factory main:create_app", 1, env) as api:
        pid, nominees = open_paredao(api.url)
    print(f"seeding {votes:,} votes into paredão {pid}")
    seed(path, pid, nominees, votes)
    return path, env, pid, nominees


@contextmanager
def nginx_in_front(api_port: int) -> Iterator[tuple[str, Path]]:
    """NGINX as deploy/nginx/start.sh runs it, in front of `api_port`: its URL and access log."""
    run_dir = Path(tempfile.mkdtemp(prefix="paredao-bench-nginx-"))
    run_dir.chmod(0o755)  # NGINX's workers (www-data when started as root) use it
    port = free_port()
    env = {
        **os.environ,
        "PAREDAO_NGINX_PORT": str(port),
        "PAREDAO_UPSTREAM_PORTS": str(api_port),
        "PAREDAO_NGINX_RUN_DIR": str(run_dir),
    }
    scripts = ROOT / "deploy" / "nginx"
    started = subprocess.run([scripts / "start.sh"], env=env, capture_output=True, text=True)
    if started.returncode != 0:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise RuntimeError(f"deploy/nginx/start.sh failed:\n{started.stderr}")
    try:
        yield f"http://127.0.0.1:{port}", run_dir / "logs" / "access.log"
    finally:
        subprocess.run([scripts / "stop.sh"], env=env, capture_output=True, check=False)
        shutil.rmtree(run_dir, ignore_errors=True)


def logged_since(access_log: Path, since: int) -> tuple[Counter[str], list[float]]:
    """How NGINX answered the requests logged past byte `since` (its `cache` field), and each
    one's time inside NGINX in ms (`request_time`: without the client's own queueing)."""
    with access_log.open("rb") as log:
        log.seek(since)
        lines = [json.loads(line) for line in log.read().decode().splitlines() if line.strip()]
    statuses = Counter(line["cache"] or "-" for line in lines)
    return statuses, sorted(float(line["request_time"]) * 1000 for line in lines)


def percentile(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(len(values) * p / 100))] if values else 0.0


def through_nginx(pid: int, env: dict[str, str], workers: int, duration: int) -> None:
    """Results through NGINX at c=8 and c=64, and from the API directly at c=64.

    Each server answers a few reads first: a worker's first read (imports, connections) is
    start-up, not the burst. Every read after that is measured, misses included."""
    public: dict[str, str] = {}  # no admin token: results are read as the public reads them
    rows: list[tuple[str, dict[str, float], str]] = []
    path = f"/paredoes/{pid}/results"
    with Server("--factory main:create_app", workers, env) as api:
        for _ in range(4 * workers):
            httpx.get(api.url + path, timeout=60, headers={"Connection": "close"})
        rows.append(("API directly c=64", wrk(api.url + path, "get.lua", 64, duration, public), ""))
        with nginx_in_front(api.port) as (url, access_log):
            httpx.get(url + path, timeout=60)
            for c in (8, 64):
                time.sleep(1.5)  # NGINX flushes its access log buffer every second
                since = access_log.stat().st_size
                result = wrk(url + path, "get.lua", c, duration, public)
                time.sleep(1.5)
                statuses, inside = logged_since(access_log, since)
                how = ", ".join(f"{k} {v}" for k, v in statuses.most_common())
                how += f"; inside NGINX (ms resolution) p50 {percentile(inside, 50):.0f} ms"
                how += f", p99 {percentile(inside, 99):.0f} ms"
                rows.append((f"through NGINX c={c}", result, how))
    print()
    print(f"{'results':<20} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-200':>8}  NGINX answers")
    for label, r, how in rows:
        rate, p50, p99 = r["ok"] / r["duration_s"], r["p50_ms"], r["p99_ms"]
        print(f"{label:<20} {rate:>9.0f} {p50:>8.2f} {p99:>8.2f} {r['other']:>8.0f}  {how}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--votes", type=int, default=10_000_000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--nginx", action="store_true", help="read results through NGINX")
    args = parser.parse_args()

    _path, env, pid, nominees = seeded_paredao("reads", args.votes)
    if args.nginx:
        through_nginx(pid, env, args.workers, args.duration)
        return

    token = {"PAREDAO_ADMIN_TOKEN": ADMIN_TOKEN}
    with Server("--factory main:create_app", args.workers, env) as api:
        stats = httpx.get(f"{api.url}/paredoes/{pid}/stats", headers=ADMIN, timeout=60).json()
        hourly = len(stats["hourly"])
        print(f"stored votes per /stats: {stats['total_votes']:,}; hourly rows: {hourly}")
        rows = []
        for label in ("results", "stats"):
            for c in (8, 64):
                r = wrk(f"{api.url}/paredoes/{pid}/{label}", "get.lua", c, args.duration, token)
                rows.append((f"{label} c={c}", r))

        # Results while a vote burst (wrk c=64) runs against the same servers.
        burst: dict[str, dict[str, float]] = {}
        lua_env = {"PAREDAO_ID": str(pid), "NOMINEES": ",".join(map(str, nominees))}

        def vote_burst() -> None:
            burst["votes"] = wrk(api.url, "vote.lua", 64, args.duration + 2, lua_env)

        voter = threading.Thread(target=vote_burst)
        voter.start()
        time.sleep(1)
        results_url = f"{api.url}/paredoes/{pid}/results"
        rows.append(("results c=8 burst", wrk(results_url, "get.lua", 8, args.duration, token)))
        voter.join()

        started = time.monotonic()
        recount = httpx.post(f"{api.url}/paredoes/{pid}/recount", headers=ADMIN, timeout=600).json()
        recount_s = time.monotonic() - started

    print()
    print(f"{'what':<18} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-200':>8}")
    for label, r in rows:
        rate, p50, p99 = r["ok"] / r["duration_s"], r["p50_ms"], r["p99_ms"]
        print(f"{label:<18} {rate:>9.0f} {p50:>8.2f} {p99:>8.2f} {r['other']:>8.0f}")
    v = burst["votes"]
    rate = v["accepted"] / v["duration_s"]
    print(f"vote burst alongside: {rate:.0f} votes/s, p99 {v['p99_ms']:.2f} ms")
    print(
        f"recount of {recount['recount_total']:,} votes: {recount_s:.1f} s, "
        f"matches tally: {recount['matches']}"
    )


if __name__ == "__main__":
    main()
