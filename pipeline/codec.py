"""The votes topic's records: a ballot as JSON, and the close marker.

A record's key is `<paredão id>:<voter id>`, so every vote of one voter in one paredão lands
in one partition, in the order it was cast (the rate limit reads them in that order).
"""

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from model.ballot import Ballot
from model.captcha import SolvedCaptcha
from model.vote import VoteMode

VERSION = 1


class UndecodableRecord(ValueError):
    """A record that is not a vote nor a marker of ours: it goes to the dead-letter topic."""


@dataclass(frozen=True)
class CloseMarker:
    """Written into every partition when a paredão closes (see `model.vote.ClosingMark`)."""

    paredao_id: int
    partitions: int  # how many partitions the topic had: the close is read when all are marked


def record_key(ballot: Ballot) -> bytes:
    return f"{ballot.paredao_id}:{ballot.voter_id}".encode()


def encode_ballot(ballot: Ballot) -> bytes:
    captcha = ballot.captcha
    return json.dumps(
        {
            "v": VERSION,
            "type": "vote",
            "vote_id": str(ballot.vote_id),
            "client_vote_id": ballot.client_vote_id,
            "paredao_id": ballot.paredao_id,
            "nominee_id": ballot.nominee_id,
            "mode": ballot.mode.value,
            "voter_id": ballot.voter_id,
            "cpf_hash": ballot.cpf_hash,
            "captcha": None
            if captcha is None
            else {"challenge": captcha.challenge, "expires_at": captcha.expires_at.isoformat()},
            "cast_at": ballot.cast_at.isoformat(),
        },
        separators=(",", ":"),
    ).encode()


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
    if value is None:
        raise UndecodableRecord("a record without a value")
    try:
        fields = json.loads(value)
        if not isinstance(fields, dict) or fields.get("v") != VERSION:
            raise UndecodableRecord(f"not a version-{VERSION} record of ours")
        if fields["type"] == "close":
            return CloseMarker(int(fields["paredao_id"]), int(fields["partitions"]))
        if fields["type"] != "vote":
            raise UndecodableRecord(f"unknown record type {fields['type']!r}")
        captcha = fields["captcha"]
        return Ballot(
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
    except UndecodableRecord:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UndecodableRecord(f"{type(exc).__name__}: {exc}") from exc
