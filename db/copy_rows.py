"""A vote batch's rows in PostgreSQL's COPY formats, written by hand (psycopg's `write_row`
took 14 % of a consumer's storing thread): the staging rows of `vote_batch` as text, and the
votes themselves in the binary format, counted per (paredão, nominee, mode, hour) on the way."""

import struct
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta

from model.ballot import EPOCH, MICROSECOND, Ballot, BallotFields, ballot_fields, micros
from model.vote import VoteMode

HOUR = timedelta(hours=1)

# The binary format: a signature, flags and extension length; per row the number of fields,
# then each field's length (-1: NULL) and bytes, big-endian; times in µs since 2000-01-01.
BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
BINARY_TRAILER = struct.pack(">h", -1)
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
HOUR_US = HOUR // MICROSECOND
_ROW_HEAD = struct.Struct(">hiii16sii")  # 7 fields; paredão, vote_id, nominee (with lengths)
_LENGTH = struct.Struct(">i")
_MOMENT = struct.Struct(">iq")
_NULL = _LENGTH.pack(-1)
_MODES = {mode.value: _LENGTH.pack(len(mode.value)) + mode.value.encode() for mode in VoteMode}


# COPY's text format: a backslash, tab, newline or carriage return in a value is escaped; \N is
# NULL. Numbers, UUIDs and our modes never hold one; text from outside (voter ids, captcha
# challenges) is escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: str | None) -> str:
    return "\\N" if value is None else value.translate(_COPY_ESCAPES)


def _copy_line(index: int, b: Ballot) -> str:
    """A ballot's row of `vote_batch` in COPY's text format."""
    captcha = b.captcha
    challenge, expires = (
        ("\\N", "\\N")
        if captcha is None
        else (_copy_text(captcha.challenge), captcha.expires_at.isoformat())
    )
    cast_us = micros(b.cast_at)
    return (
        f"{index}\t{b.paredao_id}\t{b.vote_id.hex}\t{b.nominee_id}\t{b.mode.value}\t"
        f"{_copy_text(b.voter_id)}\t{_copy_text(b.cpf_hash)}\t{challenge}\t{expires}\t{cast_us}\n"
    )


def text_rows(ballots: Sequence[Ballot]) -> str:
    """Every ballot's row of `vote_batch` (its index in the batch first), in COPY's text format."""
    return "".join(map(_copy_line, range(len(ballots)), ballots))


TallyKey = tuple[int, int, str, int]  # paredão, nominee, mode, hour since 2000-01-01
VoteRow = tuple[bytes, TallyKey]

# Rows per chunk handed to COPY: PostgreSQL inserts one chunk while the next is joined.
CHUNK_ROWS = 1000


# Microseconds from the Unix epoch (a ballot's fields) to PostgreSQL's (its binary times).
PG_EPOCH_US = (PG_EPOCH - EPOCH) // MICROSECOND


def vote_row(b: Ballot) -> VoteRow:
    """A ballot's row of `votes` in COPY's binary format, and the tally it counts in."""
    return vote_row_of_fields(ballot_fields(b))


def vote_row_of_fields(fields: BallotFields) -> VoteRow:
    """`vote_row` of a ballot given as its `BALLOT_FIELDS` (as a record from the log holds
    them: no UUID, no datetime)."""
    vote_id, _, paredao_id, nominee_id, mode, voter_id, cpf, _, _, cast_us = fields
    voter = voter_id.encode()
    us = cast_us - PG_EPOCH_US
    row = b"".join(
        (
            _ROW_HEAD.pack(7, 4, paredao_id, 16, vote_id, 4, nominee_id),
            _MODES[mode],
            _LENGTH.pack(len(voter)),
            voter,
            _NULL if cpf is None else _LENGTH.pack(len(cpf)) + cpf.encode(),
            _MOMENT.pack(8, us),
        )
    )
    return row, (paredao_id, nominee_id, mode, us // HOUR_US)


class EncodedBallots(list[Ballot]):
    """A batch's ballots with their rows of `votes` made beforehand (`rows[i]` is
    `vote_row(self[i])`): the consumer makes them while the batch before is being stored."""

    def __init__(self, ballots: Iterable[Ballot], rows: Iterable[VoteRow]) -> None:
        super().__init__(ballots)
        self.rows = list(rows)


def binary_votes(rows: Sequence[VoteRow], counts: dict[TallyKey, int]) -> Iterator[bytes]:
    """These rows in COPY's binary format, in chunks of `CHUNK_ROWS` (the first opens with the
    header, the last closes with the trailer); each counted in `counts` on the way."""
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[start : start + CHUNK_ROWS]
        for _, key in chunk:
            counts[key] = counts.get(key, 0) + 1
        data = b"".join([row for row, _ in chunk])
        yield BINARY_HEADER + data if start == 0 else data
    yield BINARY_HEADER + BINARY_TRAILER if not rows else BINARY_TRAILER
