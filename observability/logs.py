"""JSON log lines, one object per line, that never carry a CPF, a token or a captcha.

`python main.py serve` and `python main.py consumer` log this way; any other ASGI server
gets it with `--log-config observability/logging.json`. Every line has `time`, `level`,
`logger` and `message`; a line written while a request is served carries its `request_id`;
the request line of `controllers/telemetry.py` adds method, route template, status and
duration.

Nothing personal is written in the first place (request lines hold the route template, not
the path or the query; never a header, a body or a cookie). As a second guard, every line is
scrubbed before it is written: anything shaped like a CPF, a bearer token, a base64 JSON
object (a captcha token, a JWT) or a secret this process knows is replaced.
"""

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CONFIG_FILE = Path(__file__).with_name("logging.json")

# The id of the request being served (set by the request middleware), for every line it logs.
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

_SCRUBS = (
    # A CPF with or without its mask (11 digits standing alone, not inside a number or an id).
    (re.compile(r"(?<![\w.])\d{3}\.?\d{3}\.?\d{3}-?\d{2}(?![\w])"), "[cpf]"),
    # `Authorization: Bearer …` and the like.
    (re.compile(r"(?i)\b(bearer)\s+[\w.~+/=-]+"), r"\1 [redacted]"),
    # base64 of a JSON object: a captcha token ({"algorithm": …}), a JWT, a signed cookie.
    (re.compile(r"eyJ[\w+/=.-]{16,}"), "[redacted]"),
)
_secrets: set[str] = set()

# Our lines carry no source file, thread or process name: the logging module need not look
# them up for every record (the logging HOWTO's "Optimization"; ~25 % of a request's line).
logging._srcfile = None
logging.logThreads = False
logging.logProcesses = False
logging.logMultiprocessing = False

# A record with this attribute set holds only our own words and values already checked to
# pass the scrub (the request line: `controllers/telemetry.py`): it is written as it is.
CLEAN = "_clean"

# Attributes every LogRecord has: the rest were passed as `extra=` and go into the line.
# (uvicorn's `color_message` repeats the message with terminal colours.)
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


# `json.dumps(line, default=str, ensure_ascii=False)` without making an encoder per line.
_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)


def forget_in_logs(*secrets: str | None) -> None:
    """Never write these strings (the admin token, the secret key) in a log line."""
    _secrets.update(s for s in secrets if s and len(s) >= 8)


def scrub(text: str) -> str:
    """`text` without anything that looks like a CPF, a token or a known secret."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "[redacted]")
    for pattern, replacement in _SCRUBS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, request_id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        current = request_id.get()
        if current is not None:
            line["request_id"] = current
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        text = _ENCODER.encode(line)
        return text if getattr(record, CLEAN, False) else scrub(text)


def log_config() -> dict[str, Any]:
    """The logging configuration (`logging.config.dictConfig`) of our processes."""
    config: dict[str, Any] = json.loads(CONFIG_FILE.read_text())
    return config
