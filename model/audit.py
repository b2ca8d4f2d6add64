"""The audit log of admin actions: one entry per action, each hash-chained to the one before.

`hash = SHA-256(prev_hash + "\\n" + canonical)` in hex, where `canonical` is the entry without
`hash` and `prev_hash` as JSON with sorted keys, separators `,` and `:`, non-ASCII kept; the
first entry's `prev_hash` is 64 zeros. Changing, removing or reordering any entry breaks the
chain from there on.
"""

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from sqlalchemy import BigInteger, String
from sqlmodel import Column, Field, SQLModel

from model.base import UTCDateTime
from model.certificate import canonical_json, iso_utc

GENESIS: Final = "0" * 64
FINGERPRINT_LENGTH: Final = 16


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"

    # 1, 2, 3, … with no gap: set by the appender, which holds the log's lock.
    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    actor: str = Field(sa_column=Column(String(80), nullable=False))
    action: str = Field(sa_column=Column(String(40), nullable=False))
    target: str = Field(sa_column=Column(String(80), nullable=False))
    request_id: str | None = Field(default=None, sa_column=Column(String(128), nullable=True))
    prev_hash: str = Field(sa_column=Column(String(64), nullable=False))
    hash: str = Field(sa_column=Column(String(64), nullable=False))


def canonical(entry: Mapping[str, Any]) -> str:
    """The entry without `hash` and `prev_hash`, as the text its hash is over (`at` as the API
    writes it)."""
    fields = {k: v for k, v in entry.items() if k not in ("hash", "prev_hash")}
    if isinstance(fields.get("at"), datetime):
        fields["at"] = iso_utc(fields["at"])
    return canonical_json(fields)


def chain_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(f"{prev_hash}\n{canonical(entry)}".encode()).hexdigest()


def first_break(entries: Iterable[Mapping[str, Any]]) -> tuple[int, str] | None:
    """The first entry (its seq, and what is wrong with it) that does not follow from the ones
    before it, or None when the whole chain verifies."""
    expected_seq, prev = 1, GENESIS
    for entry in entries:
        seq = entry["seq"]
        if seq != expected_seq:
            return seq, f"seq {seq} follows seq {expected_seq - 1}: an entry is missing"
        if entry["prev_hash"] != prev:
            return seq, "its prev_hash is not the previous entry's hash"
        if not hmac.compare_digest(entry["hash"], chain_hash(prev, entry)):
            return seq, "its hash does not match its contents"
        expected_seq, prev = seq + 1, entry["hash"]
    return None


def fingerprint(key: bytes, secret: str) -> str:
    """A short name of a secret (a token, a session id) that reveals nothing of it."""
    return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()[:FINGERPRINT_LENGTH]
