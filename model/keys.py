"""Keys derived from the server's one secret (`PAREDAO_SECRET_KEY`), one per purpose, with
HKDF-SHA256 (RFC 5869): the CPF's keyed hash, captcha signatures and the producer's session
cookie each get their own key, so that a key exposed by one use signs or hashes nothing else.
"""

import hashlib
import hmac
from dataclasses import dataclass
from typing import Self

# The shortest PAREDAO_SECRET_KEY and PAREDAO_ADMIN_TOKEN the server starts with.
MIN_SECRET_LENGTH = 32
_SALT = b"paredao/keys/v1"


def hkdf_sha256(secret: bytes, *, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """HKDF with SHA-256 (RFC 5869): extract with `salt`, expand for `info`."""
    pseudorandom = hmac.new(salt, secret, hashlib.sha256).digest()
    blocks, block = [], b""
    for counter in range(1, -(-length // 32) + 1):
        block = hmac.new(pseudorandom, block + info + bytes([counter]), hashlib.sha256).digest()
        blocks.append(block)
    return b"".join(blocks)[:length]


@dataclass(frozen=True)
class Keys:
    """The server's keys, each for one purpose only."""

    cpf: bytes  # HMAC of the CPF (the only form in which a CPF is stored)
    captcha: bytes  # signatures of captcha challenges
    session: bytes  # the production team's session cookie

    @classmethod
    def derive(cls, secret: bytes) -> Self:
        def key(purpose: str) -> bytes:
            return hkdf_sha256(secret, salt=_SALT, info=purpose.encode())

        return cls(cpf=key("cpf-hash"), captcha=key("captcha"), session=key("producer-session"))
