"""What the API workers and the vote writer process say to each other over their Unix socket.

A frame is a 4-byte big-endian length and a `marshal`-encoded list of plain tuples (ints,
strings, bytes, None): the cheapest encoding Python reads and writes, measured against
pickle and JSON, and enough for a ballot. `marshal` is not meant for data from strangers:
the socket is the server's own, in the database's directory, open to its user only.

    worker → writer: (seq, deadline, *model.ballot.BALLOT_FIELDS)
    writer → worker: (seq, 0, accepted_at_us, replay)             the vote is stored
                     (seq, 1, error_class, detail, headers)        the vote is refused

`deadline` is the worker's `time.monotonic()` deadline: one clock for every process of the
machine. Times travel as microseconds since the Unix epoch, in UTC.
"""

import marshal
import struct
from typing import Any

from model import errors
from model.ballot import Accepted, Ballot, ballot_fields, ballot_of_fields, micros, moment
from model.errors import DomainError

HEADER = struct.Struct(">I")
STORED, REFUSED = 0, 1
# The refusals a writer answers are rebuilt by class name: only the API's own errors.
REFUSALS: dict[str, type[DomainError]] = {
    name: cls
    for name, cls in vars(errors).items()
    if isinstance(cls, type) and issubclass(cls, DomainError)
}


def frame(items: list[tuple[Any, ...]]) -> bytes:
    payload = marshal.dumps(items)
    return HEADER.pack(len(payload)) + payload


def frames(buffer: bytearray) -> list[list[tuple[Any, ...]]]:
    """The whole frames at the start of `buffer`, removed from it."""
    found = []
    start = 0
    while len(buffer) - start >= HEADER.size:
        (size,) = HEADER.unpack_from(buffer, start)
        end = start + HEADER.size + size
        if len(buffer) < end:
            break
        found.append(marshal.loads(bytes(buffer[start + HEADER.size : end])))  # noqa: S302 (see above)
        start = end
    del buffer[:start]
    return found


def ballot_item(seq: int, deadline: float, b: Ballot) -> tuple[Any, ...]:
    return (seq, deadline, *ballot_fields(b))


def ballot_of(item: tuple[Any, ...]) -> tuple[int, float, Ballot]:
    """(seq, deadline, ballot) of a worker's item."""
    return item[0], item[1], ballot_of_fields(item[2:])


def outcome_item(seq: int, outcome: Accepted | DomainError) -> tuple[Any, ...]:
    if isinstance(outcome, Accepted):
        return (seq, STORED, micros(outcome.accepted_at), outcome.replay)
    name = type(outcome).__name__
    if name not in REFUSALS:  # never expected: answered as a failure to store
        name, outcome = "Unavailable", errors.Unavailable("the vote could not be stored")
    return (seq, REFUSED, name, str(outcome.detail), outcome.headers)


def outcome_of(item: tuple[Any, ...], ballot: Ballot) -> Accepted | DomainError:
    """The writer's answer about `ballot` (the item's seq is the ballot's)."""
    if item[1] == STORED:
        return Accepted(
            ballot.vote_id,
            ballot.paredao_id,
            ballot.nominee_id,
            ballot.mode,
            moment(item[2]),
            replay=item[3],
        )
    cls = REFUSALS[item[2]]
    refusal = cls.__new__(cls)
    DomainError.__init__(refusal, item[3], headers=item[4])
    if cls is errors.RateLimited:
        refusal.retry_after_s = int(item[4]["Retry-After"])  # type: ignore[attr-defined]
    return refusal
