"""What the API workers and the vote writer process say to each other over their Unix socket.

A frame is a 4-byte big-endian length and a `marshal`-encoded list of plain tuples (ints,
strings, bytes, None): the cheapest encoding Python reads and writes, measured against
pickle and JSON, and enough for a ballot. `marshal` is not meant for data from strangers:
the socket is the server's own, in the database's directory, open to its user only.

    worker → writer: (seq, deadline, *model.ballot.BALLOT_FIELDS)
    writer → worker: (seq, 0, accepted_at_us, replay)             the vote is stored
                     (seq, 1, error_code, detail, retry_after_s)   the vote is refused

A refusal is rebuilt by its code from the API's one registry (`model.errors.error_from_code`).

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
    if outcome.code not in errors.ERRORS_BY_CODE:  # never expected: a failure to store
        outcome = errors.Unavailable("the vote could not be stored")
    retry_after = outcome.headers.get("Retry-After")
    return (seq, REFUSED, outcome.code, str(outcome.detail), retry_after)


def outcome_of(item: tuple[Any, ...], ballot: Ballot) -> Accepted | DomainError:
    """The writer's answer about `ballot` (the item's seq is the ballot's)."""
    if item[1] == STORED:
        return Accepted.of(ballot, moment(item[2]), replay=item[3])
    _, _, code, detail, retry_after = item
    return errors.error_from_code(code, detail, None if retry_after is None else int(retry_after))
