"""Numbers and times as a Brazilian reads them: decimal comma, thousands dot, Brasília time."""

import math
from datetime import UTC, datetime, timedelta, timezone

# Brasília time. Brazil has had no daylight saving time since 2019, so a fixed offset is
# exact, and needs no time zone database on the server.
BRASILIA = timezone(timedelta(hours=-3), "BRT")

# One colour per nominee position, in the chart, the legends and the result bars.
NOMINEE_COLORS = ("#d6246e", "#2f6fed", "#e08a00", "#138a6b")


def format_percent(value: float | None) -> str:
    """`48.81` → `48,81%` (Brazilian decimal comma); `None` → an en dash."""
    if value is None:
        return "–"
    return f"{value:.2f}".replace(".", ",") + "%"


def format_int(value: int) -> str:
    """`1532944337` → `1.532.944.337` (Brazilian thousands separator)."""
    return f"{value:,}".replace(",", ".")


def format_votes(count: int) -> str:
    """`1` → `1 voto`, `1234` → `1.234 votos`."""
    return f"{format_int(count)} {'voto' if count == 1 else 'votos'}"


def format_brasilia(when: datetime | None) -> str:
    """`21/11/2026 às 22:00` in Brasília time; an empty string for `None`."""
    if when is None:
        return ""
    return when.astimezone(BRASILIA).strftime("%d/%m/%Y às %H:%M")


def time_left(until: datetime | None, now: datetime) -> str:
    """How long until `until`, in words a viewer reads at a glance (`2 dias e 3 h`)."""
    if until is None:
        return "sem horário definido"
    seconds = math.ceil((until - now).total_seconds())
    if seconds <= 0:
        return "encerrado"
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} {'dia' if days == 1 else 'dias'} e {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {seconds:02d} s"


def iso_utc(when: datetime | None) -> str:
    """ISO 8601 in UTC with a `Z`, as the API writes times and the page scripts read them."""
    if when is None:
        return ""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def initials(name: str) -> str:
    """The initials shown in place of a missing photo (`Gil do Vigor` → `GV`)."""
    words = [w for w in name.split() if w[:1].isalpha()]
    if not words:
        return "?"
    first, last = words[0], words[-1]
    return (first[0] + (last[0] if len(words) > 1 else "")).upper()
