"""Housekeeping queries: dropping the rows that can no longer decide anything.

- `spent_captchas` whose challenge expired: an expired token is refused before its spend is
  looked up, so its record only takes room;
- `torcida_budgets` whose newest vote left the rate-limit window: an idle voter's budget is
  full again, exactly as if the row were absent (a bot adds a row per invented voter_id);
- `revoked_sessions` past the time their session would have expired anyway.

Each kind is deleted in small transactions, so a vote batch never waits long behind them.
`margin` keeps rows a while longer than strictly needed: the Kafka consumer decides votes at
the time they were cast, possibly long after, and must still see what was spent then.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, bindparam, text

from db.engine import writer_engine
from model.base import UTCDateTime
from model.ratelimit import TORCIDA_WINDOW_MS

BATCH = 5_000
# Epoch milliseconds have 13 digits from 2001 to 2286: a budget's newest time is its last 13
# characters (the times are comma-separated, oldest first).
MS_DIGITS = 13


@dataclass(frozen=True)
class Pruned:
    spent_captchas: int
    torcida_budgets: int
    revoked_sessions: int


def prune(engine: Engine, now: datetime, margin: timedelta) -> Pruned:
    """Delete what can no longer decide a vote or a session at `now` (minus `margin`)."""
    cutoff = now - margin
    idle_before_ms = int((cutoff.timestamp()) * 1000) - TORCIDA_WINDOW_MS
    newest = f"substr(recent, length(recent) - {MS_DIGITS - 1})"
    return Pruned(
        spent_captchas=_delete(
            engine,
            "spent_captchas",
            "challenge",
            "expires_at < :moment",
            {"moment": cutoff},
        ),
        torcida_budgets=_delete(
            engine,
            "torcida_budgets",
            "paredao_id, voter_id",
            # As text: 13-digit numbers compare as their digits do, and no row fails a cast.
            f"length(recent) < {MS_DIGITS} OR {newest} < :idle_before",
            {"idle_before": f"{idle_before_ms:0{MS_DIGITS}d}"},
        ),
        revoked_sessions=_delete(
            engine,
            "revoked_sessions",
            "session_id",
            "expires_at < :moment",
            {"moment": now},
        ),
    )


def _delete(engine: Engine, table: str, key: str, condition: str, params: dict[str, object]) -> int:
    """Delete the rows of `table` that meet `condition`, BATCH at a time; how many went."""
    # Table, key and condition are ours (above); every value is a bound parameter.
    statement = text(
        f"DELETE FROM {table} WHERE ({key}) IN "  # noqa: S608
        f"(SELECT {key} FROM {table} WHERE {condition} LIMIT {BATCH})"
    )
    if "moment" in params:  # stored as the timestamp columns store it (naive UTC on SQLite)
        statement = statement.bindparams(bindparam("moment", type_=UTCDateTime()))
    deleted = 0
    while True:
        with writer_engine(engine).begin() as connection:
            count = connection.execute(statement, params).rowcount
        deleted += count
        if count < BATCH:
            return deleted
