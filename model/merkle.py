"""RFC 9162's Merkle tree (§2.1): the tree behind a paredão's certificate, its inclusion proofs
and their verification.

A leaf hashes as `SHA-256(0x00 ‖ input)`, a node as `SHA-256(0x01 ‖ left ‖ right)`, and a tree
of n leaves splits at the largest power of two below n. Pairing each level left to right and
carrying an odd last node up unchanged builds exactly that tree, which is how it is built here.

A tree of millions of leaves is never held whole: `ChunkedTree` takes the leaves in order and
keeps only the root of each chunk of `CHUNK_SIZE` leaves (a power of two, so each full chunk is
a subtree of the whole tree). The root is the same tree's root over those chunk roots, and an
inclusion proof is the path inside the leaf's chunk (rebuilt from its leaves) followed by the
chunk's path among the chunk roots.
"""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

ALGORITHM: Final = "rfc9162-sha256"
HASH_SIZE: Final = 32
# 256 leaves a chunk: a proof reads and hashes one chunk (a few milliseconds) and a paredão of
# 10 million votes keeps 39,063 chunk roots (1.25 MB, and 0.6 MB of first vote_ids).
CHUNK_SIZE: Final = 256

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162's hash of a leaf's input."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162's hash of an inner node."""
    return _sha256(b"\x01" + left + right).digest()


def _next_level(level: Sequence[bytes]) -> list[bytes]:
    paired = [
        _sha256(b"\x01" + a + b).digest() for a, b in zip(level[::2], level[1::2], strict=False)
    ]
    if len(level) % 2:
        paired.append(level[-1])  # an odd last node goes up unchanged
    return paired


def levels_of(hashes: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree over `hashes`, the leaves' first and the root's last."""
    levels = [list(hashes)]
    while len(levels[-1]) > 1:
        levels.append(_next_level(levels[-1]))
    return levels


def root_of(hashes: Sequence[bytes]) -> bytes:
    """The root of the tree whose leaves (or aligned full subtrees) hash to `hashes`; the
    empty tree's root is the hash of nothing (RFC 9162 §2.1.1)."""
    if not hashes:
        return _sha256(b"").digest()
    level = list(hashes)
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


def path_in(levels: Sequence[Sequence[bytes]], index: int) -> list[bytes]:
    """The audit path (RFC 9162 §2.1.3.1), leaf first, of leaf `index` of a tree given by its
    `levels_of`."""
    if not 0 <= index < len(levels[0]):
        raise IndexError(f"no leaf {index} in a tree of {len(levels[0])}")
    path: list[bytes] = []
    for level in levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        index //= 2
    return path


def path_of(index: int, hashes: Sequence[bytes]) -> list[bytes]:
    """The audit path of the node at `index` of `hashes` (see `path_in`)."""
    return path_in(levels_of(hashes), index)


@dataclass
class ChunkedTree:
    """The tree built leaf by leaf, keeping only each chunk's root and first key (the key of
    its first leaf, by which a leaf's chunk is found again)."""

    chunk_size: int = CHUNK_SIZE
    chunk_roots: list[bytes] = field(default_factory=list)
    chunk_firsts: list[bytes] = field(default_factory=list)
    size: int = 0
    _ended: bool = False

    def add_chunk(self, first_key: bytes, leaves: Sequence[bytes]) -> None:
        """Append up to one chunk of leaf inputs, the first of them keyed `first_key`; only
        the last chunk of the tree may be short."""
        if self._ended:
            raise ValueError("a short chunk can only be the last one")
        if not leaves or len(leaves) > self.chunk_size:
            raise ValueError(f"a chunk holds 1 to {self.chunk_size} leaves, not {len(leaves)}")
        hashes = [_sha256(b"\x00" + leaf).digest() for leaf in leaves]
        self.chunk_roots.append(root_of(hashes))
        self.chunk_firsts.append(first_key)
        self.size += len(leaves)
        self._ended = len(leaves) < self.chunk_size

    @property
    def root(self) -> bytes:
        return root_of(self.chunk_roots)


def chunk_path(
    chunk_leaves: Sequence[bytes],
    index_in_chunk: int,
    chunk_index: int,
    chunk_levels: Sequence[Sequence[bytes]],
) -> list[bytes]:
    """The audit path of a leaf, from its chunk's leaf inputs and the tree over every chunk's
    root (`levels_of(chunk_roots)`, kept by whoever answers many proofs)."""
    inside = path_of(index_in_chunk, [leaf_hash(leaf) for leaf in chunk_leaves])
    return inside + path_in(chunk_levels, chunk_index)
