"""The votes topic's records: a ballot, and the close marker.

A record's key is `<paredão id>:<voter id>`, so every vote of one voter in one paredão lands
in one partition, in the order it was cast (the rate limit reads them in that order).

A ballot is written in a compact binary form (version 2), read with one `struct` call and
no JSON; records of version 1 (JSON, from before) still decode, so a log written by an older
API drains as it is. Version 2's layout, big-endian:

    0x02 'V' | vote_id (16 bytes) | flags (1: client's vote_id, 2: único, 4: CPF, 8: captcha)
    | paredão id (u32) | nominee id (u32) | cast_at (i64, µs since the epoch, UTC)
    | voter_id (u8 length, UTF-8) [| cpf_hash (u8 length, ASCII)]
    [| captcha challenge (u16 length, UTF-8) | captcha expires_at (i64 µs)]

A close marker stays JSON (one per partition per close: its size does not matter).
"""

import json
import struct
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from model.ballot import Ballot, BallotFields, ballot_fields, ballot_of_fields
from model.captcha import SolvedCaptcha
from model.vote import VoteMode

VERSION = 1  # the JSON records (every close marker; ballots written before version 2)
BINARY = 0x02
_HEAD = struct.Struct(">BB16sBIIq")  # version, type, vote_id, flags, paredão, nominee, cast_at
_LENGTH = struct.Struct(">B")
_CAPTCHA = struct.Struct(">H")
_MOMENT = struct.Struct(">q")
CLIENT_VOTE_ID, UNICO, HAS_CPF, HAS_CAPTCHA = 1, 2, 4, 8


class UndecodableRecord(ValueError):
    """A record that is not a vote nor a marker of ours: it goes to the dead-letter topic."""


@dataclass(frozen=True)
class CloseMarker:
    """Written into every partition when a paredão closes (see `model.vote.ClosingMark`)."""

    paredao_id: int
    partitions: int  # how many partitions the topic had: the close is read when all are marked


def record_key(ballot: Ballot) -> bytes:
    return f"{ballot.paredao_id}:{ballot.voter_id}".encode()


def _text(value: str, width: struct.Struct) -> bytes:
    data = value.encode()
    return width.pack(len(data)) + data


def encode_ballot(ballot: Ballot) -> bytes:
    if ballot.cast_at.tzinfo is None:
        raise ValueError("a timestamp without a time zone")
    (vote_id, client_vote_id, paredao_id, nominee_id, mode, voter_id, cpf_hash,
     challenge, expires_us, cast_us) = ballot_fields(ballot)  # fmt: skip
    flags = (
        (CLIENT_VOTE_ID if client_vote_id else 0)
        | (UNICO if mode == VoteMode.unico.value else 0)
        | (HAS_CPF if cpf_hash is not None else 0)
        | (HAS_CAPTCHA if challenge is not None else 0)
    )
    parts = [
        _HEAD.pack(BINARY, ord("V"), vote_id, flags, paredao_id, nominee_id, cast_us),
        _text(voter_id, _LENGTH),
    ]
    if cpf_hash is not None:
        parts.append(_text(cpf_hash, _LENGTH))
    if challenge is not None:
        parts.append(_text(challenge, _CAPTCHA))
        parts.append(_MOMENT.pack(expires_us))
    return b"".join(parts)


_MODE_OF_FLAGS = {0: VoteMode.torcida.value, UNICO: VoteMode.unico.value}


def _binary_fields(value: bytes) -> BallotFields:
    _, kind, vote_id, flags, paredao_id, nominee_id, cast_us = _HEAD.unpack_from(value)
    if kind != ord("V"):
        raise UndecodableRecord(f"unknown binary record type {kind}")
    at = _HEAD.size
    (length,) = _LENGTH.unpack_from(value, at)
    voter_id = value[at + 1 : at + 1 + length].decode()
    at += 1 + length
    cpf_hash = None
    if flags & HAS_CPF:
        (length,) = _LENGTH.unpack_from(value, at)
        cpf_hash = value[at + 1 : at + 1 + length].decode()
        at += 1 + length
    challenge, expires_us = None, None
    if flags & HAS_CAPTCHA:
        (length,) = _CAPTCHA.unpack_from(value, at)
        challenge = value[at + 2 : at + 2 + length].decode()
        at += 2 + length
        (expires_us,) = _MOMENT.unpack_from(value, at)
        at += _MOMENT.size
    if at != len(value):  # a short record ends before `at`
        raise UndecodableRecord("a binary ballot of the wrong length")
    return (
        vote_id, bool(flags & CLIENT_VOTE_ID), paredao_id, nominee_id,
        _MODE_OF_FLAGS[flags & UNICO], voter_id, cpf_hash, challenge, expires_us, cast_us,
    )  # fmt: skip


def encode_marker(marker: CloseMarker) -> bytes:
    return json.dumps(
        {
            "v": VERSION,
            "type": "close",
            "paredao_id": marker.paredao_id,
            "partitions": marker.partitions,
        },
        separators=(",", ":"),
    ).encode()


def _aware(text: Any) -> datetime:
    moment = datetime.fromisoformat(str(text))
    if moment.tzinfo is None:
        raise UndecodableRecord("a timestamp without a time zone")
    return moment


def decode(value: bytes | None) -> Ballot | CloseMarker:
    """The ballot or marker in a record's value; `UndecodableRecord` for anything else."""
    item = decode_fields(value)
    return item if isinstance(item, CloseMarker) else ballot_of_fields(item)


def decode_fields(value: bytes | None) -> BallotFields | CloseMarker:
    """`decode`, a ballot given as its `BALLOT_FIELDS` (as a compact record holds them: the
    consumer makes both the `Ballot` and its row of `votes` of these)."""
    if value is None:
        raise UndecodableRecord("a record without a value")
    try:
        if value[:1] == b"\x02":
            return _binary_fields(value)
        fields = json.loads(value)
        if not isinstance(fields, dict) or fields.get("v") != VERSION:
            raise UndecodableRecord(f"not a version-{VERSION} record of ours")
        if fields["type"] == "close":
            return CloseMarker(int(fields["paredao_id"]), int(fields["partitions"]))
        if fields["type"] != "vote":
            raise UndecodableRecord(f"unknown record type {fields['type']!r}")
        captcha = fields["captcha"]
        return ballot_fields(
            Ballot(
                vote_id=uuid.UUID(fields["vote_id"]),
                client_vote_id=bool(fields["client_vote_id"]),
                paredao_id=int(fields["paredao_id"]),
                nominee_id=int(fields["nominee_id"]),
                mode=VoteMode(fields["mode"]),
                voter_id=str(fields["voter_id"]),
                cpf_hash=None if fields["cpf_hash"] is None else str(fields["cpf_hash"]),
                captcha=None
                if captcha is None
                else SolvedCaptcha(str(captcha["challenge"]), _aware(captcha["expires_at"])),
                cast_at=_aware(fields["cast_at"]),
            )
        )
    except UndecodableRecord:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, struct.error) as exc:
        raise UndecodableRecord(f"{type(exc).__name__}: {exc}") from exc
