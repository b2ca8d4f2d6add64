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
import time
from contextvars import ContextVar
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

# A record with this attribute holds its line's fields as one dict of our own words and values
# already checked to pass the scrub (the request line: `controllers/telemetry.py`): they go
# into the line as they are, and the record's other attributes are not searched for extras.
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
            "time": utc_milliseconds(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        current = request_id.get()
        if current is not None:
            line["request_id"] = current
        clean: dict[str, Any] | None = record.__dict__.get(CLEAN)
        if clean is not None:
            line.update(clean)
        else:
            for key, value in vars(record).items():
                if key not in _STANDARD and not key.startswith("_"):
                    line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        text = _ENCODER.encode(line)
        return text if clean is not None else scrub(text)


# How `_ENCODER` writes a string (ensure_ascii=False).
_string = json.encoder.encode_basestring


def request_line(
    created: float,
    logger: str,
    method: str,
    route: str,
    status: int,
    duration_ms: float,
    request: str | None,
) -> str:
    """The line `JsonFormatter` writes for a request's record (`controllers.telemetry`: at INFO,
    the message "METHOD ROUTE STATUS", and method, route, status and a finite duration_ms
    as its `CLEAN` fields, within the request's id), written straight from those values,
    without a record, the logger's handling and a dict to encode (with its write, ~7 µs a
    line against ~18 through `Logger.info`: bench/RESULTS.md)."""
    request_part = "" if request is None else f', "request_id": {_string(request)}'
    return (
        f'{{"time": "{utc_milliseconds(created)}", "level": "info", "logger": {_string(logger)},'
        f' "message": {_string(f"{method} {route} {status}")}{request_part},'
        f' "method": {_string(method)}, "route": {_string(route)}, "status": {status:d},'
        f' "duration_ms": {duration_ms!r}}}'
    )


def log_request(
    logger: logging.Logger,
    method: str,
    route: str,
    status: int,
    duration_ms: float,
    *,
    clean: bool,
) -> None:
    """Log a request's line at INFO, "METHOD ROUTE STATUS" with these values as its fields,
    as `logger.info(…, extra=…)` would (`clean`: as `CLEAN` fields). Where the line would only
    be formatted and written (`plain_handler`), it is made at once (`request_line`)."""
    if not logger.isEnabledFor(logging.INFO):
        return
    handler = plain_handler(logger) if clean else None
    if handler is not None:
        now, request = time.time(), request_id.get()
        line = request_line(now, logger.name, method, route, status, duration_ms, request)
        handler.acquire()
        try:  # as `StreamHandler.emit` writes a formatted record
            handler.stream.write(line + handler.terminator)
            handler.flush()
        except Exception:
            handler.handleError(logging.makeLogRecord({"msg": line}))
        finally:
            handler.release()
    else:
        logger.handle(_request_record(logger, method, route, status, duration_ms, clean))


# Each logger's request record but for its words and its time: a record made from this costs
# a third of `Logger.makeRecord`'s (which looks up and computes them each time).
_records: dict[str, dict[str, Any]] = {}


def _request_record(
    logger: logging.Logger, method: str, route: str, status: int, duration_ms: float, clean: bool
) -> logging.LogRecord:
    """The request's record, as `logger.info` would make it."""
    made = _records.get(logger.name)
    if made is None:
        made = _records[logger.name] = vars(
            logger.makeRecord(
                logger.name, logging.INFO, "(unknown file)", 0, "", (), None, "(unknown function)"
            )
        )
    record = logging.LogRecord.__new__(logging.LogRecord)
    fields = record.__dict__
    fields.update(made)
    now = time.time()
    fields["created"] = now
    fields["msecs"] = int((now - int(now)) * 1000) + 0.0
    fields["relativeCreated"] = made["relativeCreated"] + (now - made["created"]) * 1000
    fields["msg"] = "%s %s %d"
    fields["args"] = (method, route, status)
    line = {"method": method, "route": route, "status": status, "duration_ms": duration_ms}
    if clean:
        fields[CLEAN] = line
    else:
        fields.update(line)
    return record


def plain_handler(logger: logging.Logger) -> logging.StreamHandler | None:  # type: ignore[type-arg]
    """The one handler that writes `logger`'s INFO lines, if a line made by `request_line` is
    all it would write for them: a `logging.StreamHandler` with a `JsonFormatter`, and no
    filter or other handler on the way (not under pytest's capture, say). Else None: the
    line goes as a record through the logging module."""
    found: logging.StreamHandler | None = None  # type: ignore[type-arg]
    current: logging.Logger | None = logger
    while current is not None:
        if current.disabled or current.filters:
            return None
        for handler in current.handlers:
            if handler.level > logging.INFO:
                continue  # it writes none of them
            if (
                found is not None
                or type(handler) is not logging.StreamHandler
                or type(handler.formatter) is not JsonFormatter
                or handler.filters
            ):
                return None
            found = handler
        current = current.parent if current.propagate else None
    return found


# The last second formatted, as (whole seconds since the epoch, its text): a process logs
# many lines a second, and the date and time of day cost more to format than the milliseconds.
_second: tuple[int, str] = (-1, "")


def utc_milliseconds(created: float) -> str:
    """`created` (seconds since the epoch) in UTC to the millisecond, as
    `datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")` writes it."""
    global _second  # a cache of one entry, replaced whole
    whole = int(created)
    # As `datetime.fromtimestamp` does: the fraction rounded to the microsecond, half to even.
    micros = round((created - whole) * 1e6)
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    known, text = _second
    if known != whole:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        _second = (whole, text)
    return f"{text}.{micros // 1000:03d}+00:00"


def log_config() -> dict[str, Any]:
    """The logging configuration (`logging.config.dictConfig`) of our processes."""
    config: dict[str, Any] = json.loads(CONFIG_FILE.read_text())
    return config
