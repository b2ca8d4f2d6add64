"""Checkouts of the project compared on the vote path, and against the FastAPI no-op.

Each CHECKOUT (a directory holding the project, e.g. a `git worktree` of another commit)
serves votes as `make bench` serves them (2 uvicorn workers, as shipped, a SQLite file of its
own migrated by its own code), and the FastAPI no-op runs beside them. Every server is up at
once and loaded in turn with short wrk slices, each round in another order, so that a shared
machine's drift from one minute to the next hits every variant alike: on this box two
servers measured half a minute apart differ by 10-20 % for no reason of theirs. Prints each
one's votes/s, CPU µs per answered request (all its processes), its ratio to the no-op over
all rounds and round by round, and the share of the machine left idle while it ran.

    .venv/bin/python -m bench.ab [--rounds 16] [--seconds 3] CHECKOUT [CHECKOUT ...]

The checkouts run on this virtualenv's packages. No count check here: `make bench` does it.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import (
    ADMIN_TOKEN,
    SECRET_KEY,
    Server,
    box_ticks,
    cpu_used,
    idle_share,
    machine,
    wrk,
)
from bench.votes import open_paredao


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkouts", nargs="+", type=Path, help="directories of the project")
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=3, help="seconds of each slice")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(machine())

    with tempfile.TemporaryDirectory(prefix="paredao-ab-") as workdir:
        servers: list[tuple[str, Server, dict[str, str]]] = []
        try:
            for n, checkout in enumerate(args.checkouts):
                root = checkout.resolve()
                env = {
                    "DATABASE_URL": f"sqlite:///{workdir}/votes-{n}.db",
                    "PAREDAO_ADMIN_TOKEN": ADMIN_TOKEN,
                    "PAREDAO_SECRET_KEY": SECRET_KEY,
                }
                subprocess.run(
                    [sys.executable, "main.py", "migrate"],
                    cwd=root,
                    env={**os.environ, **env},
                    check=True,
                    capture_output=True,
                )
                log = Path(workdir) / f"server-{n}.log"
                api = Server(
                    "--factory main:create_app",
                    args.workers,
                    env,
                    shipped=True,
                    log_path=log,
                    root=root,
                )
                servers.append((f"{n}: {checkout}", api, {}))
                pid, nominees = open_paredao(api.url)
                servers[-1][2].update(PAREDAO_ID=str(pid), NOMINEES=",".join(map(str, nominees)))
            noop = Server("bench.noop_apps:fastapi_noop", args.workers, shipped=True)
            servers.append(("FastAPI no-op", noop, {"PAREDAO_ID": "1"}))
            for _, server, env in servers:  # warmed up first: a first second runs cold
                wrk(server.url, "vote.lua", args.connections, 1, env)
            measured = loaded_in_turn(servers, args.rounds, args.seconds, args.connections)
        finally:
            for _, server, _ in servers:
                server.stop()

    print()
    print(
        f"c={args.connections}, {args.rounds} rounds of {args.seconds} s: req/s, CPU µs (all the"
        " server's processes, per answered request), the ratio to the no-op (over all rounds,"
        " and round by round), idle % (the machine's CPU left idle meanwhile)"
    )
    noop_rates = [rate for rate, _, _ in measured["FastAPI no-op"]]
    noop_rate = statistics.fmean(noop_rates)
    for label, runs in measured.items():
        rates = [rate for rate, _, _ in runs]
        each = [rate / noop for rate, noop in zip(rates, noop_rates, strict=True)]
        cpu_us = statistics.fmean(cpu for _, cpu, _ in runs)
        idle = statistics.fmean(idle for _, _, idle in runs)
        print(
            f"{label:<40} {statistics.fmean(rates):>7.0f} req/s {cpu_us:>5.0f} µs"
            f"  / no-op {statistics.fmean(rates) / noop_rate:.2f} (rounds {min(each):.2f}–"
            f"{max(each):.2f}, median {statistics.median(each):.2f})  idle {100 * idle:.1f} %"
        )


def loaded_in_turn(
    servers: list[tuple[str, Server, dict[str, str]]], rounds: int, seconds: int, c: int
) -> dict[str, list[tuple[float, float, float]]]:
    """Each server's (req/s, CPU µs per request, idle share) in every round."""
    measured: dict[str, list[tuple[float, float, float]]] = {label: [] for label, _, _ in servers}
    for turn in range(rounds):
        shift = turn % len(servers)
        for label, server, env in servers[shift:] + servers[:shift]:
            before, box = server.cpu_seconds(), box_ticks()
            r = wrk(server.url, "vote.lua", c, seconds, env)
            idle = idle_share(box, box_ticks())
            cpu = cpu_used(before, server.cpu_seconds())
            answered = max(r["accepted"], 1)
            measured[label].append((answered / r["duration_s"], cpu * 1e6 / answered, idle))
        print(
            f"round {turn + 1}: "
            + "  ".join(
                f"{label.split(':')[0]} {runs[-1][0]:.0f}" for label, runs in measured.items()
            )
            + f"  load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    return measured


if __name__ == "__main__":
    main()
