"""The engine's settings per database."""

from datetime import UTC, datetime

from sqlalchemy import text

from db.engine import make_engine
from tests.conftest import only_on_postgres


@only_on_postgres
def test_postgres_sessions_bucket_hours_in_utc(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.connect() as connection:
            assert connection.scalar(text("SHOW timezone")) == "UTC"
            # 23:30 in Brasília is 02:30 UTC the next day: its hour is 02:00 UTC.
            hour = connection.scalar(
                text("SELECT date_trunc('hour', TIMESTAMPTZ '2026-11-21 23:30:00-03')")
            )
    finally:
        engine.dispose()
    assert hour == datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
