"""The request line: the record `answered` makes is the one `access_log.info` would make, and
the line it writes at once reads as that record's."""

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from controllers.telemetry import access_log, answered
from controllers.votes import VOTE_ROUTE
from observability.logs import (
    CLEAN,
    JsonFormatter,
    plain_handler,
    request_id,
)

# Set per record: when it was made.
WHEN = {"created", "msecs", "relativeCreated"}


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def kept_records() -> Iterator[list[logging.LogRecord]]:
    handler = Kept()
    level = access_log.level
    access_log.addHandler(handler)
    access_log.setLevel(logging.INFO)
    try:
        yield handler.records
    finally:
        access_log.removeHandler(handler)
        access_log.setLevel(level)


def line_of(record: logging.LogRecord) -> dict[str, object]:
    line: dict[str, object] = json.loads(JsonFormatter().format(record))
    del line["time"]
    return line


def test_a_request_line_is_the_record_logger_info_makes() -> None:
    fields = {"method": "POST", "route": VOTE_ROUTE, "status": 202, "duration_ms": 12.346}
    with kept_records() as records:
        answered("POST", VOTE_ROUTE, 202, 0.0123456)
        access_log.info("%s %s %d", "POST", VOTE_ROUTE, 202, extra={CLEAN: fields})
    made, expected = records
    assert {k: v for k, v in vars(made).items() if k not in WHEN} == {
        k: v for k, v in vars(expected).items() if k not in WHEN
    }
    assert abs(made.created - expected.created) < 1
    assert abs(made.relativeCreated - expected.relativeCreated) < 1000
    assert (
        line_of(made)
        == line_of(expected)
        == {
            "level": "info",
            "logger": "paredao.access",
            "message": f"POST {VOTE_ROUTE} 202",
            **fields,
        }
    )


def test_a_method_of_its_own_is_scrubbed_like_any_extra() -> None:
    """A method that is none of the known ones is the client's word: its line is scrubbed."""
    with kept_records() as records:
        answered("52998224725", "<unmatched>", 405, 0.001)
    (made,) = records
    assert CLEAN not in vars(made)
    line = line_of(made)
    assert line["method"] == "[cpf]"
    assert line["message"] == "[cpf] <unmatched> 405"


def test_a_request_line_written_at_once_reads_as_its_records() -> None:
    """With the shipped logging (one `StreamHandler` with a `JsonFormatter`), a request's
    line is made without a record; with a filter on the way, through one: the same line."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    propagate, level = access_log.propagate, access_log.level
    access_log.addHandler(handler)
    access_log.propagate = False
    access_log.setLevel(logging.INFO)
    token = request_id.set("req-7")
    try:
        assert plain_handler(access_log) is handler
        answered("POST", VOTE_ROUTE, 202, 0.0123456)
        handler.addFilter(lambda record: True)  # a record now: the logging module's way
        assert plain_handler(access_log) is None
        answered("POST", VOTE_ROUTE, 202, 0.0123456)
    finally:
        request_id.reset(token)
        access_log.removeHandler(handler)
        access_log.propagate, access_log.level = propagate, level
    direct, through_a_record = (json.loads(line) for line in stream.getvalue().splitlines())
    assert direct.pop("time") <= through_a_record.pop("time")
    assert (
        direct
        == through_a_record
        == {
            "level": "info",
            "logger": "paredao.access",
            "message": f"POST {VOTE_ROUTE} 202",
            "request_id": "req-7",
            "method": "POST",
            "route": VOTE_ROUTE,
            "status": 202,
            "duration_ms": 12.346,
        }
    )


class Broken(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError("the disk is gone")


def test_a_line_that_cannot_be_written_is_reported_as_the_logging_module_does() -> None:
    """A request's line made at once that fails to be written goes to the handler's
    `handleError` (as a record's would), and the request is answered all the same."""
    handler = logging.StreamHandler(Broken())
    handler.setFormatter(JsonFormatter())
    failed: list[logging.LogRecord] = []
    handler.handleError = failed.append  # type: ignore[method-assign,assignment]
    propagate, level = access_log.propagate, access_log.level
    access_log.addHandler(handler)
    access_log.propagate = False
    access_log.setLevel(logging.INFO)
    try:
        assert plain_handler(access_log) is handler
        answered("POST", VOTE_ROUTE, 202, 0.001)  # raises nothing
    finally:
        access_log.removeHandler(handler)
        access_log.propagate, access_log.level = propagate, level
    (record,) = failed
    assert json.loads(record.getMessage())["route"] == VOTE_ROUTE
