"""A closed paredão's certificate: what it states (the payload), how it is signed (Ed25519,
RFC 8032) and how its verifying keys are published (a JWK set, RFC 8037).

The payload is a JSON text stored as signed, byte for byte: whoever checks it verifies the
signature over exactly those UTF-8 bytes, then reads them. A leaf of its Merkle tree is
`"{paredao_id}:{vote_id}:{nominee_id}:{mode}"`: no CPF, voter id, address or time.
"""

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String, Text
from sqlmodel import Column, Field, SQLModel

from model.base import UTCDateTime
from model.merkle import ALGORITHM
from model.results import Outcome
from model.vote import VoteMode


class Certificate(SQLModel, table=True):
    """The certificate of a frozen paredão, with what makes its proofs fast: the root and the
    first vote_id of every chunk of leaves (`model.merkle.ChunkedTree`). A paredão frozen in
    a tie and reopened gets a new one when it is frozen again."""

    __tablename__ = "certificates"

    paredao_id: int = Field(
        sa_column=Column(Integer, ForeignKey("paredoes.id", ondelete="CASCADE"), primary_key=True)
    )
    payload: str = Field(sa_column=Column(Text, nullable=False))
    root: str = Field(sa_column=Column(String(64), nullable=False))
    tree_size: int = Field(sa_column=Column(BigInteger, nullable=False))
    chunk_size: int = Field(sa_column=Column(Integer, nullable=False))
    # 32 bytes a chunk: each chunk's root, in order.
    chunk_roots: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    # 16 bytes a chunk: the vote_id (as UUID bytes) of each chunk's first leaf.
    chunk_firsts: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    # Signed on first read by a server holding the key ring (the consumer that freezes a
    # paredão on the Kafka path holds no secret); Ed25519 signs deterministically.
    key_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    signature: str | None = Field(default=None, sa_column=Column(String(128), nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


def leaf_inputs(paredao_id: int, votes: Iterable[tuple[str, int, str]]) -> list[bytes]:
    """The leaves of counted votes given as (vote_id, nominee_id, mode):
    `"{paredao_id}:{vote_id}:{nominee_id}:{mode}"`, `vote_id` lowercase and hyphenated, `mode`
    `unico` or `torcida` (one list at a time: this runs once per vote of a paredão)."""
    return [f"{paredao_id}:{v}:{n}:{m}".encode() for v, n, m in votes]


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, as the API writes times."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, non-ASCII kept: the one text a signature or hash is over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def payload_text(
    paredao_id: int,
    closed_at: datetime,
    tree_size: int,
    root: bytes,
    totals: Mapping[tuple[int, VoteMode], int],
    nominee_ids: Sequence[int],
    outcome: Outcome,
) -> str:
    """The certificate's payload: what it states, as the JSON text that is signed."""
    return canonical_json(
        {
            "paredao_id": paredao_id,
            "closed_at": iso_utc(closed_at),
            "tree_size": tree_size,
            "root": root.hex(),
            "algorithm": ALGORITHM,
            "totals": {
                str(n): {m.value: totals.get((n, m), 0) for m in VoteMode} for n in nominee_ids
            },
            "outcome": {
                "kind": outcome.kind.value,
                "candidate_id": outcome.candidate_id,
                "tied_candidate_ids": list(outcome.tied),
            },
        }
    )


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(public: Ed25519PublicKey) -> dict[str, str]:
    """The verifying key as a JWK (RFC 8037), named by its RFC 7638 thumbprint."""
    x = b64url(public.public_bytes(Encoding.Raw, PublicFormat.Raw))
    thumbprint = canonical_json({"crv": "Ed25519", "kty": "OKP", "x": x})
    kid = b64url(hashlib.sha256(thumbprint.encode()).digest())
    return {"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": x}


@dataclass(frozen=True)
class CertificateKeys:
    """The signing key (the current secret's) and every verifying key of the ring by kid."""

    signing: Ed25519PrivateKey
    signing_kid: str
    verifying: Mapping[str, dict[str, str]]  # the JWKs, by kid
    public: Mapping[str, Ed25519PublicKey]  # the same keys, by kid

    @classmethod
    def from_seeds(cls, seeds: Sequence[bytes]) -> Self:
        """From `Keys.certificate_seeds`: the current secret's seed first."""
        if not seeds:
            raise ValueError("no certificate key: the secret key ring is empty")
        private = [Ed25519PrivateKey.from_private_bytes(seed) for seed in seeds]
        jwks = [public_jwk(p.public_key()) for p in private]
        return cls(
            private[0],
            jwks[0]["kid"],
            {j["kid"]: j for j in jwks},
            {j["kid"]: p.public_key() for j, p in zip(jwks, private, strict=True)},
        )

    def sign(self, payload: str) -> str:
        return b64url(self.signing.sign(payload.encode()))

    def verifies(self, payload: str, signature: str, kid: str) -> bool:
        """Whether the ring's key `kid` verifies the signature (False for a kid not held)."""
        key = self.public.get(kid)
        if key is None:
            return False
        try:
            key.verify(
                base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)), payload.encode()
            )
        except (InvalidSignature, ValueError):
            return False
        return True
