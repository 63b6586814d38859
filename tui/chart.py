"""Base for the plotext charts: themed series colours, redraw as clear -> plot -> refresh,
and the view every chart shares (log scale, window, smoothing, robust y limits)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.text import Span, Text
from textual import events
from textual.app import RenderResult
from textual_plotext import Plot, PlotextPlot

from trainui.core import events as ev
from trainui.core.series import BoundedSeries, downsample

from .chart_view import (
    Bounds,
    ChartView,
    Points,
    Window,
    clip,
    ema,
    joint_limits,
    label_width,
    linear_ticks,
    log_points,
    log_ticks,
    padded,
    visible,
    window_bounds,
    x_ticks_clear_of,
)
from .panel import EventPanel
from .theming import chart_colors

RAW = "·"
"""The marker of a raw series drawn faint under its smoothed curve."""
ABOVE, BELOW = "▲", "▼"
"""Markers of points beyond the y range, drawn on its edge."""


@dataclass
class Line:
    """One series as the chart draws it."""

    xs: list[float]
    ys: list[float]
    color: str
    """A key of the theme's chart colours."""
    marker: str
    """plotext's marker: `braille`, or a character."""
    joined: bool = True
    """Drawn as a line (else as points only)."""
    scales: bool = True
    """Its values set the y range (a faint raw series is held to it instead)."""

    @classmethod
    def of(cls, points: Points, color: str, marker: str, *, joined: bool = True) -> Line:
        """A line of a series' points."""
        return cls(points[0], points[1], color, marker, joined)

    def within(self, bounds: Bounds | None) -> Line:
        """The part inside an x range."""
        xs, ys = visible(self.xs, self.ys, bounds)
        return Line(xs, ys, self.color, self.marker, self.joined, self.scales)


@dataclass
class Drawn:
    """What the legend needs to say about a frame."""

    off_scale: int = 0
    """Points beyond the y range, drawn on its edge."""
    not_logged: bool = False
    """Some points were left out of a log scale (zero or negative)."""


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
        self.view = ChartView()
        """Log scale, window and smoothing, as the keys set them."""
        self.epoch_steps: dict[int, float] = {}
        """The global step at the end of each epoch."""
        self.drawn = Drawn()
        self.x_range: Bounds = (0.0, 1.0)
        """The x axis of the latest frame."""
        self.y_range: Bounds = (0.0, 1.0)
        """The y axis of the latest frame (log10 units on a log scale)."""
        self._monitored_best: int | None = None
        self._epoch_losses: dict[int, float] = {}
        self.x_unit = ""
        """What x is (step, epoch), written under the y axis's labels."""

    # ---- the view ---------------------------------------------------------------------
    def change_view(self, change: str) -> ChartView:
        """Apply a key's change (`log`, `window`, `smoother`, `rougher`); return the view."""
        self.view = self.view.changed(change)
        self.mark_dirty()
        return self.view

    def note_epoch(self, event: ev.EpochEnded) -> None:
        """Remember where the epoch ended, and its loss (for the best epoch)."""
        self.epoch_steps[event.epoch] = event.global_step
        loss = event.val_loss if event.val_loss is not None else event.train_loss
        if loss is not None and math.isfinite(loss):
            self._epoch_losses[event.epoch] = loss

    def note_best(self, event: ev.EarlyStoppingUpdated) -> None:
        """The best epoch as the monitored metric says."""
        self._monitored_best = event.best_epoch

    def forget_epochs_after(self, epoch: int) -> None:
        """A session resumed after `epoch`: later epochs are to be trained again."""
        for table in (self.epoch_steps, self._epoch_losses):
            for number in [number for number in table if number > epoch]:
                del table[number]

    @property
    def best_epoch(self) -> int | None:
        """The early-stopping monitor's best epoch, else the one of lowest loss."""
        if self._monitored_best is not None:
            return self._monitored_best
        losses = self._epoch_losses
        return min(losses, key=losses.__getitem__) if losses else None

    def window(self, per_epoch: bool) -> Bounds | None:
        """The x range the view's window shows, against epochs or global steps."""
        ends = (
            {epoch: float(epoch) for epoch in self.epoch_steps} if per_epoch else self.epoch_steps
        )
        return window_bounds(self.view.window, ends, self.best_epoch)

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
        self.vertical_lines(plt, self.resumed_at, colors["lr"])

    def vertical_lines(self, plt: Plot, xs: list[float], hex_color: str) -> None:
        """Vertical lines at those of `xs` inside the x axis."""
        low, high = self.x_range
        for x in xs:
            if low <= x <= high:
                plt.vertical_line(x, color=rgb(hex_color))

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
        self.drawn, self.x_unit = Drawn(), ""  # (what draw() sets, if the chart has data)
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
            label_x_axis(frame, self.x_unit)
        return frame

    def plot(self, plt: Plot, colors: dict[str, str]) -> None:
        """Draw the series (subclasses)."""

    def legend(self, colors: dict[str, str]) -> str:
        """Markup for the title: chart name and a coloured marker per series (subclasses)."""
        return ""

    def fit(self, xs: list[float], ys: list[float]) -> tuple[list[float], list[float]]:
        """Downsample a series to one point per character cell of the plot area (none before
        the chart has a size: a redraw on its first resize does it)."""
        if self.size.width <= 0:
            return xs, ys
        return downsample(xs, ys, max(2, self.size.width - 8))

    # ---- drawing the view -------------------------------------------------------------
    def draw(
        self, plt: Plot, colors: dict[str, str], lines: list[Line], *, per_epoch: bool, x_unit: str
    ) -> None:
        """Draw the lines as the view says: the window, the log scale, a y range that fits
        what is visible with points beyond it marked on its edge, x named `x_unit`."""
        bounds = self.window(per_epoch)
        shown = [line.within(bounds) for line in lines]
        if self.view.log_y:
            shown = self._logged(shown)
        shown = [
            Line(*self.fit(line.xs, line.ys), line.color, line.marker, line.joined, line.scales)
            for line in shown
            if line.xs
        ]
        limits = joint_limits([line.ys for line in shown if line.scales]) or joint_limits(
            [line.ys for line in shown]
        )
        if limits is None:
            return
        for line in shown:
            self._plot_line(plt, colors, line, limits)
        low, high = self.y_range = padded(limits)
        plt.ylim(low, high)
        most = max(2, (self.size.height - 3) // 3)
        ticks, labels = (log_ticks if self.view.log_y else linear_ticks)(low, high, most)
        labels = label_width(labels, x_unit)
        plt.yticks(ticks, labels)
        self._x_axis(plt, shown, per_epoch, x_unit, len(labels[0]))

    def _logged(self, lines: list[Line]) -> list[Line]:
        logged = []
        for line in lines:
            xs, ys, dropped = log_points(line.xs, line.ys)
            self.drawn.not_logged = self.drawn.not_logged or bool(dropped)
            logged.append(Line(xs, ys, line.color, line.marker, line.joined, line.scales))
        return logged

    def _plot_line(self, plt: Plot, colors: dict[str, str], line: Line, limits: Bounds) -> None:
        color = rgb(colors[line.color])
        ys, above, below = clip(line.ys, limits)
        draw = plt.plot if line.joined else plt.scatter
        draw(line.xs, ys, color=color, marker=line.marker)
        if not line.scales:
            return  # a faint raw series runs along the edge, unmarked
        for indexes, marker, edge in ((above, ABOVE, limits[1]), (below, BELOW, limits[0])):
            if indexes:
                plt.scatter(
                    [line.xs[i] for i in indexes], [edge] * len(indexes), color=color, marker=marker
                )
                self.drawn.off_scale += len(indexes)

    def _x_axis(
        self, plt: Plot, lines: list[Line], per_epoch: bool, x_unit: str, y_label_width: int
    ) -> None:
        """Ticks clear of the x unit, which render() writes under the y labels."""
        low = min(line.xs[0] for line in lines)
        high = max(line.xs[-1] for line in lines)
        if per_epoch and self.view.window is Window.WHOLE:
            low = 1
        high = max(high, low + 1)
        self.x_range = (low, high)
        ticks = [float(tick) for tick in nice_ticks(low, high)]
        columns = (y_label_width + 1, self.size.width - 2)
        plt.xlim(low, high)
        plt.xticks(
            *x_ticks_clear_of(
                ticks, [tick_label(int(t)) for t in ticks], self.x_range, columns, len(x_unit)
            )
        )
        self.x_unit = x_unit

    def title(self, name: str) -> str:
        """The chart's name, then what differs from the default view."""
        described = self.view.describe()
        return f"[b]{name}[/]" + (f" [dim]{described}[/]" if described else "")

    def view_legend(self) -> list[str]:
        """Legend entries for the view: off-scale points, points no log has."""
        entries = []
        if self.drawn.off_scale:
            entries.append(f"{ABOVE}{BELOW}clipped")
        if self.drawn.not_logged:
            entries.append("[dim]values ≤0 left out[/]")
        return entries

    def smoothed(self, points: Points, color: str) -> list[Line]:
        """A per-step series: raw and faint under its smoothed curve (only raw at 0)."""
        xs, ys = points
        weight = self.view.smoothing
        if weight <= 0:
            return [Line(xs, ys, color, "braille")]
        return [
            Line(xs, ys, "step_loss", RAW, scales=False),
            Line(xs, ema(ys, weight), color, "braille"),
        ]


def label_x_axis(frame: Text, unit: str) -> None:
    """Write the x axis's unit at the start of the tick labels' row (the last), where the
    y labels leave blanks, so it costs no row."""
    plain = frame.plain.rstrip("\n")
    start = plain.rfind("\n") + 1
    room = plain[start : start + len(unit) + 1]
    if unit and len(room) == len(unit) + 1 and room.isspace():
        end = start + len(unit)
        frame.plain = plain[:start] + unit + frame.plain[end:]
        frame.stylize("dim", start, end)


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
