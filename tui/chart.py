"""Base for the plotext charts: themed series colours, redraw as clear -> plot -> refresh."""

from __future__ import annotations

import math

from rich.text import Span, Text
from textual import events
from textual.app import RenderResult
from textual_plotext import Plot, PlotextPlot

from trainui.core.series import BoundedSeries, downsample

from .panel import EventPanel
from .theming import chart_colors


class EventChart(EventPanel, PlotextPlot):
    """A plotext chart fed with events; redrawn only on the app's throttled tick.

    A resumed run goes on from its checkpoint: its series forget what a killed session
    logged after it, and each session boundary is drawn as a dotted vertical line.
    """

    slow = True

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.resumed_at: list[float] = []
        """Where on the x axis resumed sessions began."""

    def start_session(self, x: float, series: list[BoundedSeries]) -> None:
        """A session resumed at `x`: drop later points, remember the boundary."""
        for each in series:
            each.truncate(x)
        self.resumed_at = [at for at in self.resumed_at if at < x] + [x]
        self.mark_dirty()

    def session_legend(self, colors: dict[str, str]) -> list[str]:
        """A legend entry for the session boundaries, when there are any."""
        return [legend_entry("│", "resumed", colors["lr"])] if self.resumed_at else []

    def plot_sessions(self, plt: Plot, colors: dict[str, str]) -> None:
        """The session boundaries, as vertical lines."""
        for x in self.resumed_at:
            plt.vertical_line(x, color=rgb(colors["lr"]))

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

    def render(self) -> RenderResult:
        """plotext's frame, with runs of one style merged into one span.

        plotext styles cells piecemeal; every span becomes its own escape sequence on the
        terminal, so merging neighbours of the same style cuts the bytes of a redraw.
        """
        frame = super().render()
        if isinstance(frame, Text):
            frame.spans[:] = merge_spans(frame.spans)
        return frame

    def plot(self, plt: Plot, colors: dict[str, str]) -> None:
        """Draw the series (subclasses)."""

    def legend(self, colors: dict[str, str]) -> str:
        """Markup for the title: chart name and a coloured marker per series (subclasses)."""
        return ""

    def fit(self, xs: list[float], ys: list[float]) -> tuple[list[float], list[float]]:
        """Downsample a series to one point per character cell of the plot area."""
        return downsample(xs, ys, max(2, self.size.width - 8))


def merge_spans(spans: list[Span]) -> list[Span]:
    """Join spans that touch and share a style (spans must not overlap)."""
    merged: list[Span] = []
    for span in sorted(spans, key=lambda span: span.start):
        if merged and merged[-1].end == span.start and merged[-1].style == span.style:
            merged[-1] = Span(merged[-1].start, span.end, span.style)
        else:
            merged.append(span)
    return merged


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
