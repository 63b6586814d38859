"""Base for the plotext charts: themed series colours, redraw as clear -> plot -> refresh."""

from __future__ import annotations

import math

from textual import events
from textual_plotext import Plot, PlotextPlot

from .panel import EventPanel
from .series import downsample
from .theming import chart_colors


class EventChart(EventPanel, PlotextPlot):
    """A plotext chart fed with events; redrawn only on the app's throttled tick."""

    chart = True

    DEFAULT_CSS = """
    EventChart { height: 1fr; min-height: 6; border-top: solid $panel; border-title-align: left;
                 border-title-color: $foreground; }
    """

    def on_resize(self, event: events.Resize) -> None:
        """The downsampled series depend on the width."""
        self.mark_dirty()

    def redraw(self) -> None:
        """Clear, plot the current series in the theme's colours, refresh."""
        colors = chart_colors(self.app.theme)
        self.plt.clear_figure()
        self.plot(self.plt, colors)
        # The legend lives in the border title: plotext's own legend hides the data.
        self.border_title = self.legend(colors)
        self.refresh()

    def plot(self, plt: Plot, colors: dict[str, str]) -> None:
        """Draw the series (subclasses)."""

    def legend(self, colors: dict[str, str]) -> str:
        """Markup for the title: chart name and a coloured marker per series (subclasses)."""
        return ""

    def fit(self, xs: list[float], ys: list[float]) -> tuple[list[float], list[float]]:
        """Downsample a series to one point per character cell of the plot area."""
        return downsample(xs, ys, max(2, self.size.width - 8))


def nice_ticks(low: float, high: float, most: int = 6) -> list[int]:
    """Whole-number ticks at a 1-2-5 stride covering [low, high], at most `most` of them."""
    span = max(1.0, high - low)
    stride = 1
    while span / stride > most - 1:
        for factor in (2, 5 / 2, 2):
            stride = round(stride * factor)
            if span / stride <= most - 1:
                break
    first = math.ceil(low / stride) * stride
    return list(range(int(first), int(high) + 1, stride))


def tick_label(value: int) -> str:
    """`950`, `12k`, `3.5M`: short enough for narrow charts."""
    for limit, suffix in ((1_000_000, "M"), (1_000, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return str(value)


def rgb(hex_color: str) -> tuple[int, int, int]:
    """`#rrggbb` as the (r, g, b) tuple plotext takes."""
    value = hex_color.lstrip("#")
    red, green, blue = (int(value[index : index + 2], 16) for index in (0, 2, 4))
    return red, green, blue


def legend_entry(marker: str, label: str, hex_color: str) -> str:
    """`marker label` with the marker in the series colour, as Textual markup."""
    return f"[bold {hex_color}]{marker}[/]{label}"
