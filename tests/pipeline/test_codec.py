"""The votes topic's records: a ballot survives its binary encoding, records of the JSON
version still decode, and anything else is undecodable (never a crash)."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from model.ballot import Ballot, uuid_of
from model.captcha import SolvedCaptcha
from model.vote import VoteMode
from pipeline.kafka.codec import (
    CloseMarker,
    UndecodableRecord,
    decode,
    encode_ballot,
    encode_marker,
)

CAST_AT = datetime(2026, 11, 21, 22, 30, 15, 123456, tzinfo=UTC)


def ballot(**fields: object) -> Ballot:
    values: dict[str, object] = {
        "vote_id": uuid.UUID("0193f1c2-7a00-7000-8000-00000000abcd"),
        "client_vote_id": False,
        "paredao_id": 12,
        "nominee_id": 4_000_000_000,
        "mode": VoteMode.torcida,
        "voter_id": "fã-ção:ø",
        "cpf_hash": None,
        "captcha": None,
        "cast_at": CAST_AT,
    }
    values.update(fields)
    return Ballot(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "b",
    [
        ballot(),
        ballot(client_vote_id=True),
        ballot(mode=VoteMode.unico, cpf_hash="f" * 64),
        ballot(captcha=SolvedCaptcha("c" * 128, CAST_AT + timedelta(seconds=120))),
        ballot(
            mode=VoteMode.unico,
            cpf_hash="0" * 64,
            client_vote_id=True,
            captcha=SolvedCaptcha("x.y", CAST_AT),
        ),
        ballot(voter_id="v" * 64, cast_at=datetime(1999, 1, 1, tzinfo=UTC)),
    ],
)
def test_a_ballot_comes_back_as_it_was_written(b: Ballot) -> None:
    value = encode_ballot(b)
    assert value[:1] == b"\x02"
    assert decode(value) == b


def test_the_binary_form_is_smaller_than_json() -> None:
    b = ballot(mode=VoteMode.unico, cpf_hash="f" * 64)
    assert len(encode_ballot(b)) < 140


def test_a_json_ballot_of_version_1_still_decodes() -> None:
    value = json.dumps(
        {
            "v": 1,
            "type": "vote",
            "vote_id": "0193f1c2-7a00-7000-8000-00000000abcd",
            "client_vote_id": True,
            "paredao_id": 12,
            "nominee_id": 3,
            "mode": "unico",
            "voter_id": "v1",
            "cpf_hash": "a" * 64,
            "captcha": {"challenge": "c1", "expires_at": "2026-11-21T22:32:15+00:00"},
            "cast_at": "2026-11-21T22:30:15.123456+00:00",
        }
    ).encode()
    assert decode(value) == ballot(
        client_vote_id=True,
        nominee_id=3,
        mode=VoteMode.unico,
        voter_id="v1",
        cpf_hash="a" * 64,
        captcha=SolvedCaptcha("c1", datetime(2026, 11, 21, 22, 32, 15, tzinfo=UTC)),
    )


def test_a_close_marker_comes_back() -> None:
    assert decode(encode_marker(CloseMarker(12, 6))) == CloseMarker(12, 6)


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"",
        b"\x02",
        encode_ballot(ballot())[:-1],  # cut short
        encode_ballot(ballot()) + b"!",  # a byte too many
        b"\x02X" + encode_ballot(ballot())[2:],  # an unknown type
        encode_ballot(ballot(mode=VoteMode.unico, cpf_hash="f" * 64))[:40],
        b"not json",
        b'{"v": 9, "type": "vote"}',
    ],
)
def test_anything_else_is_undecodable(value: bytes | None) -> None:
    with pytest.raises(UndecodableRecord):
        decode(value)


def test_a_naive_cast_at_is_not_written() -> None:
    with pytest.raises(ValueError, match="time zone"):
        encode_ballot(ballot(cast_at=datetime(2026, 11, 21, 22, 30)))


def test_the_fast_uuid_is_the_uuid() -> None:
    value = uuid.uuid4()
    fast = uuid_of(value.bytes)
    assert (fast, str(fast), hash(fast), fast.version) == (value, str(value), hash(value), 4)
    with pytest.raises(ValueError, match="16 bytes"):
        uuid_of(b"\x00" * 15)
