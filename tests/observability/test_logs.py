"""The JSON log line and its scrubbing (the second guard: nothing personal is logged first)."""

import json
import logging
import sys

from observability.logs import CLEAN, JsonFormatter, forget_in_logs, request_id, scrub


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
    clean = logging.makeLogRecord({"msg": words, "levelname": "INFO", CLEAN: True})
    other = logging.makeLogRecord({"msg": words, "levelname": "INFO"})
    assert json.loads(formatter.format(clean))["message"] == words
    assert json.loads(formatter.format(other))["message"] == "id [cpf]"
