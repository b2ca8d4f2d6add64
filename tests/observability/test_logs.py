"""The JSON log line and its scrubbing (the second guard: nothing personal is logged first)."""

import io
import json
import logging
import sys
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from observability.logs import (
    CLEAN,
    JsonFormatter,
    forget_in_logs,
    plain_handler,
    request_id,
    request_line,
    scrub,
    utc_milliseconds,
)


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.makeLogRecord(
        {"name": "paredao.test", "levelno": logging.INFO, "levelname": "INFO", "msg": message}
    )
    made.args = args or None
    made.__dict__.update(extra)
    return made


class TestScrub:
    def test_a_cpf_masked_or_not_is_replaced(self) -> None:
        assert scrub("cpf 529.982.247-25 voted") == "cpf [cpf] voted"
        assert scrub('{"cpf":"52998224725"}') == '{"cpf":"[cpf]"}'

    def test_ids_and_numbers_are_left_alone(self) -> None:
        for text in ("0804c12345678901a0632b0b", "offset 123456789012", "0.12345678901"):
            assert scrub(text) == text

    def test_bearer_tokens_and_base64_json_are_replaced(self) -> None:
        assert scrub("Authorization: Bearer abc.DEF-123_x") == "Authorization: Bearer [redacted]"
        captcha = "eyJhbGdvcml0aG0iOiAiU0hBLTI1NiIsICJjaGFsbGVuZ2UiOiAiYWJjIn0="
        assert scrub(f"token={captcha}!") == "token=[redacted]!"

    def test_known_secrets_are_replaced(self) -> None:
        forget_in_logs("s3cret-admin-token-value", None, "short")
        assert scrub("got s3cret-admin-token-value") == "got [redacted]"
        assert scrub("short") == "short"  # too short to be a secret worth matching


class TestJsonFormatter:
    def test_one_json_object_with_the_request_id_and_extras(self) -> None:
        token = request_id.set("req-42")
        try:
            line = JsonFormatter().format(record("%s %s %d", "GET", "/x", 200, status=200))
        finally:
            request_id.reset(token)
        parsed = json.loads(line)
        assert "\n" not in line
        assert parsed["message"] == "GET /x 200"
        assert parsed["request_id"] == "req-42"
        assert parsed["status"] == 200
        assert parsed["level"] == "info"
        assert parsed["logger"] == "paredao.test"
        assert parsed["time"].endswith("+00:00")

    def test_an_exception_is_kept_but_scrubbed(self) -> None:
        try:
            raise ValueError("CPF 529.982.247-25 refused")
        except ValueError:
            failed = record("could not store")
            failed.exc_info = sys.exc_info()
        parsed = json.loads(JsonFormatter().format(failed))
        assert "ValueError: CPF [cpf] refused" in parsed["exception"]
        assert "529.982.247-25" not in json.dumps(parsed)


def test_a_clean_record_is_written_as_it_is_and_any_other_is_scrubbed() -> None:
    """The request line is marked clean (its values were checked at the door); any other
    record goes through the scrub, whatever it holds."""
    formatter = JsonFormatter()
    words = "id 52998224725"
    clean = logging.makeLogRecord({"msg": words, "levelname": "INFO", CLEAN: {}})
    other = logging.makeLogRecord({"msg": words, "levelname": "INFO"})
    assert json.loads(formatter.format(clean))["message"] == words
    assert json.loads(formatter.format(other))["message"] == "id [cpf]"


def plain() -> tuple[logging.Logger, logging.StreamHandler]:  # type: ignore[type-arg]
    """A logger of its own writing through one `StreamHandler` with a `JsonFormatter`."""
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(f"paredao.test.plain.{id(handler)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    return logger, handler


@given(st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False))
def test_the_time_of_a_line_is_the_datetime_modules_to_the_millisecond(created: float) -> None:
    expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    assert utc_milliseconds(created) == expected


texts = st.text(max_size=40)


@given(
    created=st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False),
    logger=texts,
    method=texts,
    route=texts,
    status=st.integers(min_value=100, max_value=599),
    duration_ms=st.floats(min_value=0, max_value=1e7, allow_nan=False).map(lambda d: round(d, 3)),
    request=st.none() | texts,
)
def test_a_request_line_made_at_once_is_the_formatters_line_of_its_record(
    created: float,
    logger: str,
    method: str,
    route: str,
    status: int,
    duration_ms: float,
    request: str | None,
) -> None:
    fields = {"method": method, "route": route, "status": status, "duration_ms": duration_ms}
    made = logging.makeLogRecord(
        {
            "name": logger,
            "levelno": logging.INFO,
            "levelname": "INFO",
            "msg": "%s %s %d",
            "args": (method, route, status),
            "created": created,
            CLEAN: fields,
        }
    )
    token = request_id.set(request)
    try:
        expected = JsonFormatter().format(made)
    finally:
        request_id.reset(token)
    assert request_line(created, logger, method, route, status, duration_ms, request) == expected


class TestPlainHandler:
    def logger(self) -> tuple[logging.Logger, logging.StreamHandler]:  # type: ignore[type-arg]
        return plain()

    def test_the_one_json_handler_on_the_way_is_it(self) -> None:
        logger, handler = self.logger()
        assert plain_handler(logger) is handler

    def test_none_when_a_filter_another_handler_or_formatter_stands_on_the_way(self) -> None:
        logger, handler = self.logger()
        handler.addFilter(lambda record: True)
        assert plain_handler(logger) is None

        logger, handler = self.logger()
        logger.addHandler(logging.NullHandler())
        assert plain_handler(logger) is None

        logger, handler = self.logger()
        handler.setFormatter(logging.Formatter())
        assert plain_handler(logger) is None

        logger, handler = self.logger()
        logger.addFilter(lambda record: True)
        assert plain_handler(logger) is None

    def test_a_handler_above_info_is_passed_by_and_the_parents_are_looked_at(self) -> None:
        logger, handler = self.logger()
        quiet = logging.StreamHandler(io.StringIO())
        quiet.setLevel(logging.WARNING)
        logger.addHandler(quiet)
        assert plain_handler(logger) is handler

        child = logger.getChild("child")
        assert plain_handler(child) is handler
        logger.propagate = True  # the root's handlers (pytest's capture) are on the way now
        assert plain_handler(child) is None
