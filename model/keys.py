"""Keys derived from the server's secrets, one per purpose, with HKDF-SHA256 (RFC 5869): the
CPF's keyed hash, captcha signatures, the producer's session cookie, the audit log's actor
fingerprints and the results' certificates (an Ed25519 seed) each get their own key,
so that a key exposed by one use signs or hashes nothing else.

The CPF key has a ring: the current `PAREDAO_SECRET_KEY` and the previous secrets
(`PAREDAO_PREVIOUS_SECRET_KEYS`), each CPF key named by a short key id. A paredão hashes
with the CPF key in force when it was created, for life (`Paredao.cpf_key_id`), so rotating
the secret never changes the hash of a CPF inside one paredão, and never lets it vote twice.
"""

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Self

from model.errors import CPFKeyMissing

# The shortest PAREDAO_SECRET_KEY and PAREDAO_ADMIN_TOKEN the server starts with.
MIN_SECRET_LENGTH = 32
_SALT = b"paredao/keys/v1"
KEY_ID_LENGTH: Final = 16


def hkdf_sha256(secret: bytes, *, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """HKDF with SHA-256 (RFC 5869): extract with `salt`, expand for `info`."""
    pseudorandom = hmac.new(salt, secret, hashlib.sha256).digest()
    blocks, block = [], b""
    for counter in range(1, -(-length // 32) + 1):
        block = hmac.new(pseudorandom, block + info + bytes([counter]), hashlib.sha256).digest()
        blocks.append(block)
    return b"".join(blocks)[:length]


def key_id(cpf_key: bytes) -> str:
    """The CPF key's public name: a fingerprint of the derived key (never of the secret),
    which can be stored and logged without revealing anything that hashes a CPF."""
    return hmac.new(cpf_key, b"paredao/key-id", hashlib.sha256).hexdigest()[:KEY_ID_LENGTH]


def _derive(secret: bytes, purpose: str) -> bytes:
    return hkdf_sha256(secret, salt=_SALT, info=purpose.encode())


@dataclass(frozen=True)
class Keys:
    """The server's keys, each for one purpose only."""

    cpf: bytes  # HMAC of the CPF (the only form in which a CPF is stored): the current key
    captcha: bytes  # signatures of captcha challenges
    session: bytes  # the production team's session cookie
    audit: bytes  # fingerprints of who acted, in the audit log (never the token itself)
    # Every CPF key by its key id, the current secret's first, then the previous secrets' in
    # the order they were given (newest first, the oldest last).
    cpf_ring: Mapping[str, bytes] = field(repr=False)
    # The seeds of the certificates' Ed25519 signing keys: the current secret's first, then
    # the previous secrets', so a certificate signed before a rotation still verifies.
    certificate_seeds: tuple[bytes, ...] = field(repr=False)

    @classmethod
    def derive(cls, secret: bytes, previous: Sequence[bytes] = ()) -> Self:
        """The keys of `secret`, with the CPF keys of the `previous` secrets kept to hash the
        CPFs of the paredões that began under them."""
        cpf = _derive(secret, "cpf-hash")
        ring = {key_id(cpf): cpf}
        for old in previous:
            old_cpf = _derive(old, "cpf-hash")
            ring.setdefault(key_id(old_cpf), old_cpf)
        return cls(
            cpf=cpf,
            captcha=_derive(secret, "captcha"),
            session=_derive(secret, "producer-session"),
            audit=_derive(secret, "audit-actor"),
            cpf_ring=ring,
            certificate_seeds=tuple(_derive(s, "certificate-signing") for s in (secret, *previous)),
        )

    @property
    def cpf_key_id(self) -> str:
        """The id of the current CPF key: a paredão created now hashes with it for life."""
        return key_id(self.cpf)

    @property
    def legacy_cpf_key_id(self) -> str:
        """The key of the paredões created before key ids (no `cpf_key_id`): the oldest of the
        ring, which is the current one until the secret is first rotated."""
        return list(self.cpf_ring)[-1]

    def cpf_key(self, cpf_key_id: str | None) -> bytes:
        """The CPF key named `cpf_key_id`, or for None the legacy key (503 `cpf_key_missing`
        if the ring lacks it)."""
        cpf_key_id = cpf_key_id or self.legacy_cpf_key_id
        try:
            return self.cpf_ring[cpf_key_id]
        except KeyError:
            raise CPFKeyMissing(
                f"votos únicos in this paredão are hashed with CPF key {cpf_key_id}, which this "
                "server does not hold: its secret must be listed in PAREDAO_PREVIOUS_SECRET_KEYS"
            ) from None
