"""The certificate's Merkle tree at 10 million leaves: pymerkle against model/merkle.py.

    .venv/bin/python -m bench.merkle trees [--leaves 10000000] [--proofs 1000]
    .venv/bin/python -m bench.merkle certificate [--votes 10000000] [--proofs 1000]

`trees` builds the same RFC 9162 tree over the same leaf inputs (the certificate's
"{paredao}:{vote_id}:{nominee}:{mode}") with pymerkle's InmemoryTree and with our chunked
tree, checks both roots agree, and times the build, the root and inclusion proofs (every proof
is verified with RFC 9162 §2.1.3.2). Needs `pip install pymerkle` (not a dependency of the app).

`certificate` seeds a paredão with N votes straight into SQLite (bench.reads' seeding), starts
the API, closes the paredão (the close builds and stores the certificate) and times the close,
then times GET …/votes/{id}/proof for random counted votes and verifies each against the
certificate, as a voter's CLI would.
"""

import argparse
import gc
import random
import resource
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from model.merkle import CHUNK_SIZE, ChunkedTree, chunk_path, levels_of
from tools.verify_receipt import verify_inclusion


def leaves(n: int) -> list[bytes]:
    """`n` leaf inputs in the certificate's form, in ascending vote_id order."""
    rng = random.Random(9162)
    ids = sorted(str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n))
    modes = ("unico", "torcida")
    return [f"1:{v}:{10 + i % 3}:{modes[i % 5 != 0]}".encode() for i, v in enumerate(ids)]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def timed(what: str, action: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = action()
    print(f"  {what}: {time.perf_counter() - started:.2f} s", flush=True)
    return result


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ours(data: list[bytes], proofs: list[int]) -> bytes:
    print(f"model/merkle.py (chunks of {CHUNK_SIZE}):", flush=True)

    def build() -> ChunkedTree:
        tree = ChunkedTree()
        for first in range(0, len(data), CHUNK_SIZE):
            tree.add_chunk(b"", data[first : first + CHUNK_SIZE])
        return tree

    tree: ChunkedTree = timed("build (every leaf and chunk root)", build)
    root: bytes = timed("root over the chunk roots", lambda: tree.root)
    levels = timed(
        "levels over the chunk roots (kept for proofs)", lambda: levels_of(tree.chunk_roots)
    )
    times = []
    for index in proofs:
        started = time.perf_counter()
        c, i = divmod(index, CHUNK_SIZE)
        chunk = data[c * CHUNK_SIZE : (c + 1) * CHUNK_SIZE]
        path = chunk_path(chunk, i, c, levels)
        times.append(time.perf_counter() - started)
        assert verify_inclusion(index, len(data), data[index], path, root)
    print(
        f"  proof (rebuild one chunk + path among chunk roots): p50 "
        f"{percentile(times, 50) * 1000:.2f} ms, p99 {percentile(times, 99) * 1000:.2f} ms"
    )
    return root


def theirs(data: list[bytes], proofs: list[int]) -> bytes:
    from pymerkle import InmemoryTree  # type: ignore[import-untyped,import-not-found,unused-ignore]

    print("pymerkle InmemoryTree (sha256, RFC 9162 prefixes):", flush=True)
    tree = InmemoryTree(algorithm="sha256")

    def build() -> None:
        for leaf in data:
            tree.append_entry(leaf)

    timed("build (append every leaf)", build)
    root: bytes = timed("root", lambda: tree.get_root())
    times = []
    for index in proofs:
        started = time.perf_counter()
        proof = tree.prove_inclusion(index + 1)  # pymerkle counts leaves from 1
        times.append(time.perf_counter() - started)
        # pymerkle's path starts with the leaf's own hash; the rest is RFC 9162's audit path.
        path = [bytes(p) for p in proof.path]
        assert verify_inclusion(index, len(data), data[index], path[1:], root)
    print(
        f"  proof: p50 {percentile(times, 50) * 1000:.2f} ms, "
        f"p99 {percentile(times, 99) * 1000:.2f} ms"
    )
    return root


def trees(n: int, proofs: int) -> None:
    print(f"{n:,} leaves", flush=True)
    data = timed("leaf inputs made and sorted", lambda: leaves(n))
    picks = random.Random(1).sample(range(n), proofs)
    gc.freeze()  # the leaves live to the end: keep them out of the collector's passes
    mine = ours(data, picks)
    print(f"  peak RSS so far: {peak_rss_mb():,.0f} MB", flush=True)
    pymerkle_root = theirs(data, picks)
    print(f"  peak RSS: {peak_rss_mb():,.0f} MB")
    print(f"roots agree: {mine == pymerkle_root} ({mine.hex()})")


def certificate(votes: int, proofs: int) -> None:
    from bench.common import Server
    from bench.reads import seeded_paredao
    from bench.votes import ADMIN
    from tools.verify_receipt import check_receipt

    path, env, pid, _nominees = seeded_paredao("certificate", votes)
    with Server("--factory main:create_app", 1, env) as api:
        started = time.perf_counter()
        r = httpx.post(f"{api.url}/paredoes/{pid}/close", headers=ADMIN, timeout=600)
        closing = time.perf_counter() - started
        assert r.status_code == 200, r.text
        print(f"close of {votes:,} votes with its certificate: {closing:.1f} s")
        ids = sample_vote_ids(path, pid, proofs)
        times = []
        with httpx.Client(base_url=api.url, timeout=30) as client:
            for vote_id in ids:
                started = time.perf_counter()
                r = client.get(f"/paredoes/{pid}/votes/{vote_id}/proof")
                times.append(time.perf_counter() - started)
                assert r.status_code == 200, r.text
            check_receipt(lambda p: client.get(p).json(), pid, ids[0])
        print(
            f"GET proof over HTTP, {len(times)} random counted votes: p50 "
            f"{percentile(times, 50) * 1000:.1f} ms, p99 {percentile(times, 99) * 1000:.1f} ms, "
            f"max {max(times) * 1000:.1f} ms"
        )


def sample_vote_ids(path: Path, pid: int, n: int) -> list[str]:
    import sqlite3

    db = sqlite3.connect(path)
    try:
        rows = db.execute(
            "SELECT vote_id FROM votes WHERE paredao_id = ? ORDER BY random() LIMIT ?", (pid, n)
        ).fetchall()
    finally:
        db.close()
    return [str(uuid.UUID(hex=r[0])) for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=("trees", "certificate"))
    parser.add_argument("--leaves", "--votes", dest="n", type=int, default=10_000_000)
    parser.add_argument("--proofs", type=int, default=1000)
    args = parser.parse_args()
    if args.what == "trees":
        trees(args.n, args.proofs)
    else:
        certificate(args.n, args.proofs)


if __name__ == "__main__":
    main()
