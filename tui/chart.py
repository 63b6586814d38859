"""Base for the plotext charts: themed series colours, redraw as clear -> plot -> refresh."""

from __future__ import annotations

from textual import events
from textual_plotext import Plot, PlotextPlot

from .panel import EventPanel
from .series import downsample
from .theming import chart_colors


class EventChart(EventPanel, PlotextPlot):
    """A plotext chart fed with events; redrawn only on the app's throttled tick."""

    DEFAULT_CSS = """
    EventChart { height: 1fr; min-height: 6; }
    """

    def on_resize(self, event: events.Resize) -> None:
        """The downsampled series depend on the width."""
        self.mark_dirty()

    def redraw(self) -> None:
        """Clear, plot the current series in the theme's colours, refresh."""
        self.plt.clear_figure()
        self.plot(self.plt, chart_colors(self.app.theme))
        self.refresh()

    def plot(self, plt: Plot, colors: dict[str, str]) -> None:
        """Draw the series (subclasses)."""

    def fit(self, xs: list[float], ys: list[float]) -> tuple[list[float], list[float]]:
        """Downsample a series to one point per character cell of the plot area."""
        return downsample(xs, ys, max(2, self.size.width - 8))


def rgb(hex_color: str) -> tuple[int, int, int]:
    """`#rrggbb` as the (r, g, b) tuple plotext takes."""
    value = hex_color.lstrip("#")
    red, green, blue = (int(value[index : index + 2], 16) for index in (0, 2, 4))
    return red, green, blue
