"""A vote on its way to being stored: the checks it passes first (pure, per request, no I/O),
and what a vote sink answers."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import uuid_utils

from model.captcha import SolvedCaptcha, verify
from model.cpf import cpf_hash, normalize_cpf
from model.errors import Invalid
from model.keys import Keys
from model.vote import VoteMode, VoteStatus


@dataclass(frozen=True)
class ParedaoInfo:
    """What the hot path needs to know of a paredão (read from the database, cached)."""

    id: int
    nominee_ids: Sequence[int]
    require_captcha: bool
    # The CPF key its votos únicos are hashed with (`Keys.cpf_ring`): the one in force when it
    # was created, for its whole life, so a rotated secret changes no hash (None: created
    # before key ids, `Keys.legacy_cpf_key_id`).
    cpf_key_id: str | None
    # Only to refuse early what has certainly ended (the Kafka path); a vote's window is
    # decided where it is stored.
    voting_ended: bool = False
    closes_at: datetime | None = None

    def ended_at(self, now: datetime) -> bool:
        """Whether voting has certainly ended at `now` (a close is never undone, except by
        extending a tie, which makes this worker forget the cached paredão)."""
        return self.voting_ended or (self.closes_at is not None and now >= self.closes_at)


class Ballot(NamedTuple):
    """A vote ready to be stored: validated, CPF hashed, captcha checked (not yet spent).

    A named tuple, not a dataclass: a consumer's batch makes tens of thousands, and a frozen
    dataclass costs ~4× as much to build."""

    vote_id: uuid.UUID
    client_vote_id: bool  # chosen by the client, so it may be a replay
    paredao_id: int
    nominee_id: int
    mode: VoteMode
    voter_id: str
    cpf_hash: str | None
    captcha: SolvedCaptcha | None
    # When the API took the vote: the voting window and the hour bucket are decided by it, so a
    # vote keeps its time however long it waits in a batch or a queue.
    cast_at: datetime

    def same_vote_as(self, other: "Ballot") -> bool:
        """Whether `other` asks for the same vote (a replay), whatever its captcha."""
        return (self.paredao_id, self.nominee_id, self.mode, self.voter_id, self.cpf_hash) == (
            other.paredao_id,
            other.nominee_id,
            other.mode,
            other.voter_id,
            other.cpf_hash,
        )


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
MODES = {mode.value: mode for mode in VoteMode}

# A ballot on every wire (the writer's socket, the Kafka record, the database's COPY): these
# plain values, in this order. Times are microseconds since the Unix epoch, in UTC.
BALLOT_FIELDS = (
    "vote_id",  # 16 bytes
    "client_vote_id",  # bool
    "paredao_id",  # int
    "nominee_id",  # int
    "mode",  # "unico" | "torcida"
    "voter_id",  # str
    "cpf_hash",  # str | None
    "captcha_challenge",  # str | None
    "captcha_expires_us",  # int | None
    "cast_us",  # int
)
BallotFields = tuple[bytes, bool, int, int, str, str, str | None, str | None, int | None, int]


def micros(moment: datetime) -> int:
    """Microseconds since the epoch (a naive time is UTC: SQLite stores them so)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // MICROSECOND


def moment(us: int) -> datetime:
    return EPOCH + us * MICROSECOND


def ballot_fields(b: "Ballot") -> BallotFields:
    """The ballot as `BALLOT_FIELDS`."""
    captcha = b.captcha
    return (
        b.vote_id.bytes,
        b.client_vote_id,
        b.paredao_id,
        b.nominee_id,
        b.mode._value_,  # `.value` is a descriptor in Python, 4× as slow
        b.voter_id,
        b.cpf_hash,
        None if captcha is None else captcha.challenge,
        None if captcha is None else micros(captcha.expires_at),
        micros(b.cast_at),
    )


_new = object.__new__
_set = object.__setattr__
# `uuid.UUID` keeps its value in the slots `int` and `is_safe`: their setters, and the one
# `is_safe` value, looked up once (an enum member read off its class costs ~200 ns a time).
_set_int = uuid.UUID.__dict__["int"].__set__
_set_is_safe = uuid.UUID.__dict__["is_safe"].__set__
_UNKNOWN = uuid.SafeUUID.unknown


def uuid_of(value: bytes) -> uuid.UUID:
    """`uuid.UUID(bytes=value)` for the hot path (a consumer's batch decodes tens of
    thousands): the same object, without the constructor's argument checks (~800 → ~270 ns)."""
    if len(value) != 16:
        raise ValueError("a UUID is 16 bytes")
    made: uuid.UUID = _new(uuid.UUID)
    _set_int(made, int.from_bytes(value, "big"))
    _set_is_safe(made, _UNKNOWN)
    return made


def ballot_of_fields(fields: Sequence[Any]) -> "Ballot":
    """The ballot of `BALLOT_FIELDS` values (`KeyError`/`ValueError`/`TypeError` when they
    are not a ballot's)."""
    (vote_id, client_vote_id, paredao_id, nominee_id, mode, voter_id, cpf_hash,
     challenge, expires_us, cast_us) = fields  # fmt: skip
    return Ballot(
        uuid_of(vote_id),
        bool(client_vote_id),
        paredao_id,
        nominee_id,
        MODES[mode],
        voter_id,
        cpf_hash,
        None if challenge is None else SolvedCaptcha(challenge, moment(expires_us)),
        moment(cast_us),
    )


@dataclass(frozen=True)
class Accepted:
    """A vote a sink took: stored (`counted`) or in the durable log (`queued`); `replay` when
    an earlier request with the same vote_id was taken first."""

    vote_id: uuid.UUID
    paredao_id: int
    nominee_id: int
    mode: VoteMode
    accepted_at: datetime
    replay: bool = False
    status: VoteStatus = VoteStatus.counted

    @classmethod
    def of(
        cls,
        vote: "Ballot | Any",
        accepted_at: datetime,
        *,
        replay: bool = False,
        status: VoteStatus = VoteStatus.counted,
    ) -> "Accepted":
        """The answer about `vote`: a ballot, or a stored vote's row (the same names).

        Made as `__init__` would make it, field by field, in one step: a frozen dataclass's
        `__init__` sets each field through `object.__setattr__` (~1.3 µs, and a batch answers
        every vote with one)."""
        mode = vote.mode
        if type(mode) is not VoteMode:
            mode = VoteMode(mode)
        made = _new(cls)
        _set(made, "__dict__", {
            "vote_id": vote.vote_id, "paredao_id": vote.paredao_id,
            "nominee_id": vote.nominee_id, "mode": mode, "accepted_at": accepted_at,
            "replay": replay, "status": status,
        })  # fmt: skip
        return made


def new_vote_id() -> uuid.UUID:
    """A UUIDv7: time-ordered, so the votes' primary key index grows at its end."""
    return uuid.UUID(bytes=uuid_utils.uuid7().bytes)


def make_ballot(
    paredao: ParedaoInfo,
    *,
    nominee_id: int,
    mode: VoteMode,
    voter_id: str,
    cpf: str | None,
    vote_id: uuid.UUID | None,
    captcha_token: str | None,
    keys: Keys,
    now: datetime,
) -> Ballot:
    """Validate a vote cast at `now` against its paredão (422 / 403 as `DomainError`s; 503
    `cpf_key_missing` for a voto único in a paredão whose CPF key the server lacks)."""
    if nominee_id not in paredao.nominee_ids:
        raise Invalid(f"candidate {nominee_id} is not a nominee of paredão {paredao.id}")
    hashed: str | None = None
    if mode == VoteMode.unico:
        if cpf is None:
            raise Invalid("a voto único needs the voter's cpf")
        digits = normalize_cpf(cpf)
        hashed = cpf_hash(keys.cpf_key(paredao.cpf_key_id), paredao.id, digits)
    elif cpf is not None:
        raise Invalid("a voto da torcida takes no cpf")
    captcha = (
        verify(captcha_token, keys.captcha, now, paredao.id) if paredao.require_captcha else None
    )
    return Ballot(
        vote_id=vote_id or new_vote_id(),
        client_vote_id=vote_id is not None,
        paredao_id=paredao.id,
        nominee_id=nominee_id,
        mode=mode,
        voter_id=voter_id,
        cpf_hash=hashed,
        captcha=captcha,
        cast_at=now,
    )
