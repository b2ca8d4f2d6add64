"""Reading certificates and answering inclusion proofs (the tree is built at the freeze,
`db.certificates.certify`); the verifying keys as a JWK set.

A proof finds the vote's chunk by the chunks' first vote_ids, reads that chunk's votes back
(at most 256 rows of the primary key) and takes the chunk's path inside it, then the chunk's
path among the chunk roots, whose levels are kept in memory per certificate.
"""

import asyncio
import bisect
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from threading import Lock

from sqlalchemy import Connection, Engine
from sqlmodel import Session

from db import certificates as queries
from db.engine import writer_engine
from db.paredoes import get_paredao
from model.certificate import Certificate, CertificateKeys
from model.errors import Conflict, NotFound
from model.merkle import HASH_SIZE, chunk_path, levels_of
from model.paredao import ParedaoStatus

# The chunk levels of this many certificates stay in memory (about 6 MB each at 10M votes).
CACHED_TREES = 4


class NotCertified(Conflict):
    """The paredão has no certificate yet: it is not frozen (or is frozen no more)."""

    code = "not_certified"


class CertificateMismatch(Exception):
    """The stored votes no longer give the stored certificate: a vote row changed after the
    freeze. Never answered as a proof; the server logs it."""


@dataclass(frozen=True)
class SignedCertificate:
    paredao_id: int
    payload: str
    signature: str
    key_id: str
    root: str
    verifies: bool  # with the key ring this server holds


@dataclass(frozen=True)
class InclusionProof:
    leaf_index: int
    tree_size: int
    leaf: str
    audit_path: list[str]
    root: str


@dataclass(frozen=True)
class _Tree:
    version: tuple[str, datetime]
    tree_size: int
    chunk_size: int
    firsts: list[bytes]
    levels: list[list[bytes]]  # the tree over the chunk roots, chunk roots first


class CertificateService:
    def __init__(self, engine: Engine, keys: CertificateKeys) -> None:
        self._engine = engine
        self._keys = keys
        self._trees: OrderedDict[int, _Tree] = OrderedDict()
        self._lock = Lock()

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """Every verifying key of the ring, the current one first."""
        return {"keys": list(self._keys.verifying.values())}

    async def certificate(self, paredao_id: int) -> SignedCertificate:
        """The signed certificate (404 unknown paredão, 409 while it is not frozen)."""
        return await asyncio.to_thread(self._certificate, paredao_id)

    async def for_page(self, paredao_id: int) -> SignedCertificate | None:
        """The certificate for a page to show, or None while there is none."""
        try:
            return await self.certificate(paredao_id)
        except NotCertified:
            return None

    async def proof(self, paredao_id: int, vote_id: uuid.UUID) -> InclusionProof:
        """The inclusion proof of a counted vote (409 before the certificate, 404 for a vote
        that was never counted)."""
        return await asyncio.to_thread(self._proof, paredao_id, vote_id)

    def _frozen(
        self, connection: Connection, paredao_id: int, *, with_chunks: bool = False
    ) -> Certificate:
        """The certificate of a frozen paredão (404 unknown paredão, 409 not frozen)."""
        with Session(bind=connection) as session:
            paredao, _ = get_paredao(session, paredao_id)
        certificate = queries.get_certificate(connection, paredao_id, with_chunks=with_chunks)
        if paredao.status != ParedaoStatus.closed or certificate is None:
            raise NotCertified(
                f"paredão {paredao_id} has no certificate yet: it gets one when its result is "
                f"frozen (status '{paredao.status}')"
            )
        return certificate

    def _certificate(self, paredao_id: int) -> SignedCertificate:
        with self._engine.connect() as connection:
            certificate = self._frozen(connection, paredao_id)
        if certificate.signature is None or certificate.key_id is None:
            with writer_engine(self._engine).begin() as connection:
                queries.store_signature(
                    connection,
                    paredao_id,
                    self._keys.signing_kid,
                    self._keys.sign(certificate.payload),
                )
                certificate = self._frozen(connection, paredao_id)
        assert certificate.signature is not None and certificate.key_id is not None
        return SignedCertificate(
            paredao_id=paredao_id,
            payload=certificate.payload,
            signature=certificate.signature,
            key_id=certificate.key_id,
            root=certificate.root,
            verifies=self._keys.verifies(
                certificate.payload, certificate.signature, certificate.key_id
            ),
        )

    def _tree(self, connection: Connection, paredao_id: int) -> _Tree:
        """The certificate's chunk levels, from memory while the stored certificate is the
        same one (a tie reopened and frozen again gets a new one); 404/409 without one."""
        version = queries.certificate_version(connection, paredao_id)
        if version is None:
            self._frozen(connection, paredao_id)  # says why: no such paredão, or not frozen
        with self._lock:
            cached = self._trees.get(paredao_id)
            if cached is not None and cached.version == version:
                self._trees.move_to_end(paredao_id)
                return cached
        certificate = self._frozen(connection, paredao_id, with_chunks=True)
        roots = certificate.chunk_roots
        firsts = certificate.chunk_firsts
        tree = _Tree(
            version=(certificate.root, certificate.created_at),
            tree_size=certificate.tree_size,
            chunk_size=certificate.chunk_size,
            firsts=[firsts[i : i + 16] for i in range(0, len(firsts), 16)],
            levels=levels_of([roots[i : i + HASH_SIZE] for i in range(0, len(roots), HASH_SIZE)]),
        )
        with self._lock:
            self._trees[paredao_id] = tree
            while len(self._trees) > CACHED_TREES:
                self._trees.popitem(last=False)
        return tree

    def _proof(self, paredao_id: int, vote_id: uuid.UUID) -> InclusionProof:
        with self._engine.connect() as connection:
            tree = self._tree(connection, paredao_id)
            chunk = bisect.bisect_right(tree.firsts, vote_id.bytes) - 1
            never = NotFound(f"vote {vote_id} was never counted in paredão {paredao_id}")
            if chunk < 0:
                raise never
            last = chunk + 1 == len(tree.firsts)
            rows = queries.chunk_leaves(
                connection,
                paredao_id,
                uuid.UUID(bytes=tree.firsts[chunk]),
                None if last else uuid.UUID(bytes=tree.firsts[chunk + 1]),
                tree.chunk_size,
            )
        expected = tree.tree_size - chunk * tree.chunk_size if last else tree.chunk_size
        if len(rows) != expected:
            raise CertificateMismatch(
                f"paredão {paredao_id}: chunk {chunk} holds {len(rows)} votes, "
                f"its certificate {expected}"
            )
        wanted = str(vote_id)
        index = next((i for i, (v, _) in enumerate(rows) if v == wanted), None)
        if index is None:
            raise never
        path = chunk_path([leaf for _, leaf in rows], index, chunk, tree.levels)
        return InclusionProof(
            leaf_index=chunk * tree.chunk_size + index,
            tree_size=tree.tree_size,
            leaf=rows[index][1].decode(),
            audit_path=[h.hex() for h in path],
            root=tree.version[0],
        )
