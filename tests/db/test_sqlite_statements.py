"""The SQLite batch writes its values on the driver's cursor, converted by its own hand: the
same text the column types would have stored."""

import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from db.vote_statements import SPENT, VOTES, hour_of
from db.vote_statements_sqlite import bound_time, stored_hour, stored_time, stored_time_in

# UTC, another zone at UTC, and any whole-minute offset.
ZONES = st.sampled_from([UTC, timezone(timedelta(0), "Z")]) | st.builds(
    timezone,
    st.timedeltas(min_value=-timedelta(hours=23), max_value=timedelta(hours=23)).map(
        lambda d: timedelta(minutes=d // timedelta(minutes=1))
    ),
)
MOMENTS = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=ZONES
) | st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=ZONES
).map(lambda m: m.replace(microsecond=0))
BIND = VOTES.c.accepted_at.type.bind_processor(sqlite.dialect())


def through_the_column(moment: datetime) -> str:
    """The text SQLite keeps when the column type's bind goes to the driver."""
    assert BIND is not None
    with sqlite3.connect(":memory:") as connection:
        (text,) = connection.execute("SELECT ?", (BIND(moment),)).fetchone()
    assert isinstance(text, str)
    return text


@settings(max_examples=300)
@given(MOMENTS)
def test_a_time_is_stored_as_its_column_type_binds_it(moment: datetime) -> None:
    assert stored_time(moment) == through_the_column(moment)


@settings(max_examples=300)
@given(
    MOMENTS,
    st.lists(
        st.builds(
            timedelta,
            days=st.sampled_from([0, 0, 0, 1, -1, 366]),
            hours=st.sampled_from([0, 0, 0, 1, -1]),
            minutes=st.sampled_from([0, 0, 0, 1, -1]),
            seconds=st.integers(min_value=-2, max_value=2),
            microseconds=st.integers(min_value=-1_000_000, max_value=1_000_000),
        ),
        max_size=30,
    ),
)
def test_times_of_a_batch_are_stored_as_each_alone(
    first: datetime, offsets: list[timedelta]
) -> None:
    # A batch's times, most in the same few seconds, some at their second's start, some
    # in the same second of another minute, hour or day.
    moments = [first, *(first + d for d in offsets), *(first + d for d in offsets)]
    moments += [m.replace(microsecond=0) for m in moments]
    seconds: dict[tuple[int, ...], str] = {}
    assert [stored_time_in(seconds, m) for m in moments] == [through_the_column(m) for m in moments]


@settings(max_examples=300)
@given(MOMENTS)
def test_the_hour_of_a_stored_time_is_its_hour_stored(moment: datetime) -> None:
    assert stored_hour(moment, stored_time(moment)) == through_the_column(hour_of(moment))


@settings(max_examples=300)
@given(MOMENTS)
def test_a_captcha_expiry_is_stored_as_sqlalchemy_binds_it(moment: datetime) -> None:
    dialect = sqlite.dialect()
    bind = SPENT.c.expires_at.type.dialect_impl(dialect).bind_processor(dialect)
    assert bind is not None
    assert bound_time(moment) == bind(moment)


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        stored_time(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="naive"):
        bound_time(datetime(2026, 1, 1))
