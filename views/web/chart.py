"""The production dashboard's hourly chart, laid out in the server as SVG geometry."""

import math
from dataclasses import dataclass
from datetime import timedelta

from views.api.votes import StatsPublic
from views.web.formatting import BRASILIA, NOMINEE_COLORS, format_int

CHART_WIDTH, CHART_HEIGHT = 720, 300
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 40, 708, 16, 262
LABEL_CHAR_WIDTH = 9  # of the axis labels (15 px), in the chart's units
MAX_CHART_HOURS = 96
MAX_GROUP_WIDTH = 200


@dataclass(frozen=True)
class ChartBar:
    x: float
    y: float
    width: float
    height: float
    color: str
    label: str


@dataclass(frozen=True)
class ChartTick:
    at: float
    label: str


@dataclass(frozen=True)
class HourlyChart:
    """An SVG bar chart of votes per UTC hour per nominee, laid out in the server."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    bars: list[ChartBar]
    y_ticks: list[ChartTick]
    x_ticks: list[ChartTick]
    summary: str


def _nice_step(top: int, ticks: int = 4) -> int:
    """A step of 1, 2 or 5 × 10ⁿ that splits `0..top` into about `ticks` parts."""
    raw = max(1.0, top / ticks)
    power = 10 ** math.floor(math.log10(raw))
    return next(int(m * power) for m in (1, 2, 5, 10) if m * power >= raw)


def hourly_chart(stats: StatsPublic) -> HourlyChart:
    """Grouped bars: one group per hour (Brasília labels), one bar per nominee.

    Hours without votes between the first and the last are drawn empty, so the time axis is
    even; past `MAX_CHART_HOURS`, only the latest hours are drawn.
    """
    position = {n.candidate_id: i for i, n in enumerate(stats.nominees)}
    names = {n.candidate_id: n.name for n in stats.nominees}
    votes = {(h.hour, h.candidate_id): h.votes for h in stats.hourly}
    bars: list[ChartBar] = []
    y_ticks: list[ChartTick] = []
    x_ticks: list[ChartTick] = []
    if not stats.hourly:
        return HourlyChart(
            CHART_WIDTH, CHART_HEIGHT, PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM,
            bars, y_ticks, x_ticks, "Ainda não há votos.",
        )  # fmt: skip
    first, last = min(h.hour for h in stats.hourly), max(h.hour for h in stats.hourly)
    count = int((last - first).total_seconds() // 3600) + 1
    hours = [first + timedelta(hours=i) for i in range(max(0, count - MAX_CHART_HOURS), count)]
    peak = max(votes.get((h, n), 0) for h in hours for n in position)
    step = _nice_step(peak)
    top = step * math.ceil(max(peak, 1) / step)
    height = PLOT_BOTTOM - PLOT_TOP
    for value in range(0, top + 1, step):
        y_ticks.append(ChartTick(PLOT_BOTTOM - height * value / top, format_int(value)))
    # The plot starts where the longest vote count on the y axis ends.
    plot_left = max(PLOT_LEFT, 16 + LABEL_CHAR_WIDTH * max(len(t.label) for t in y_ticks))
    # Few hours make wide groups: keep bars slim and the groups centred.
    group = min((PLOT_RIGHT - plot_left) / len(hours), MAX_GROUP_WIDTH)
    left = plot_left + ((PLOT_RIGHT - plot_left) - group * len(hours)) / 2
    bar = group * 0.8 / max(1, len(position))
    label_every = math.ceil(len(hours) / 8)
    for i, hour in enumerate(hours):
        local = hour.astimezone(BRASILIA)
        x0 = left + i * group + group * 0.1
        if i % label_every == 0:
            text = local.strftime("%Hh") if i and local.hour else local.strftime("%d/%m %Hh")
            x_ticks.append(ChartTick(round(left + (i + 0.5) * group, 2), text))
        for candidate_id, j in position.items():
            n = votes.get((hour, candidate_id), 0)
            h = height * n / top
            bars.append(
                ChartBar(
                    x=round(x0 + j * bar, 2),
                    y=round(PLOT_BOTTOM - h, 2),
                    width=round(max(bar - 1, 0.5), 2),
                    height=round(h, 2),
                    color=NOMINEE_COLORS[j % len(NOMINEE_COLORS)],
                    label=f"{names[candidate_id]}, {local.strftime('%d/%m %Hh')}: "
                    f"{format_int(n)} votos",
                )
            )
    shown = f"as últimas {len(hours)} horas" if count > len(hours) else f"{len(hours)} hora(s)"
    summary = f"Votos por hora (horário de Brasília), {shown}; pico de {format_int(peak)} votos."
    return HourlyChart(
        CHART_WIDTH, CHART_HEIGHT, plot_left, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM,
        bars, y_ticks, x_ticks, summary,
    )  # fmt: skip
