"""The one place that reads the wall clock.

Everything else takes the time from the app's clock (a `Clock`, injected at start-up), so
that tests run on a clock they move by hand and nothing depends on today's date.
"""

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The current time, timezone-aware in UTC: the production clock."""
    return datetime.now(UTC)
