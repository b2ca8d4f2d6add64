"""What a bot pays per vote in the anonymous mode: proof-of-work solves per second on one core.

Issues real challenges (`model.captcha.new_challenge`, the server's own code) at the default
difficulty and at each doubling the server may apply under load, and solves them the way a
scripted bot would: sha256 of `salt + n` for n = 0, 1, ... until it matches (CPython's
hashlib, C code; a GPU or hand-written SIMD solver would be faster still). Each solve is one
vote's captcha, so solves/s on one core is votes/s per core. The server's check of a
solution is timed too.

    .venv/bin/python -m bench.bot_cost [--challenges 20]
"""

import argparse
import base64
import hashlib
import json
import os
import platform
import secrets
import statistics
import time
from datetime import timedelta

from config import Settings
from model.captcha import new_challenge, verify
from model.clock import system_clock


def solve(challenge: dict[str, object]) -> tuple[int, int]:
    """(the number found, how many hashes it took)."""
    salt, target = str(challenge["salt"]), str(challenge["challenge"])
    for n in range(int(str(challenge["maxnumber"])) + 1):
        if hashlib.sha256(f"{salt}{n}".encode()).hexdigest() == target:
            return n, n + 1
    raise RuntimeError("no solution below maxnumber")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--challenges", type=int, default=20, help="challenges per difficulty")
    args = parser.parse_args()
    defaults = Settings.model_fields
    base = int(defaults["captcha_max_number"].default)
    doublings = int(defaults["captcha_max_doublings"].default)
    key = secrets.token_bytes(32)
    now = system_clock()
    print(f"machine: {platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"{'maxnumber':>10} {'hashes/solve':>13} {'s/solve':>9} {'votes/s/core':>13}"
        f" {'check µs':>9}"
    )
    for step in range(doublings + 1):
        max_number = base << step
        seconds, hashes, checks = [], [], []
        for _ in range(args.challenges):
            challenge = new_challenge(key, max_number, now + timedelta(minutes=5), 1)
            started = time.perf_counter()
            number, tried = solve(challenge)
            seconds.append(time.perf_counter() - started)
            hashes.append(tried)
            token = base64.b64encode(
                json.dumps(
                    {k: challenge[k] for k in ("algorithm", "challenge", "salt", "signature")}
                    | {"number": number}
                ).encode()
            ).decode()
            started = time.perf_counter()
            verify(token, key, now, 1)
            checks.append(time.perf_counter() - started)
        per_solve = statistics.mean(seconds)
        print(
            f"{max_number:>10} {statistics.mean(hashes):>13.0f} {per_solve:>9.3f}"
            f" {1 / per_solve:>13.1f} {statistics.median(checks) * 1e6:>9.0f}"
        )


if __name__ == "__main__":
    main()
