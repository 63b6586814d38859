"""Learning-rate panel: the current value and a sparkline of its history (log scale)."""

from __future__ import annotations

import math
from functools import singledispatchmethod

from textual import events
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Label, Sparkline

from trainui.core import events as ev
from trainui.core.formats import learning_rate
from trainui.core.run_summary import RunSummary
from trainui.core.series import BoundedSeries, downsample

from .panel import EventPanel, set_text

LABEL_WIDTH = 12
"""`LR 1.00e-03` and a space (the label's width in DEFAULT_CSS): fixed, so a new value
never re-lays out the row."""


class LearningRatePanel(EventPanel, Widget):
    """`LR 1.00e-03` followed by a sparkline of log10(lr) over the run.

    The label has a fixed width (`LR 1.00e-03` is always 11 cells): a width that followed
    the text would re-lay out the row and resize the sparkline after it was downsampled.
    """

    DEFAULT_CSS = """
    LearningRatePanel { layout: horizontal; height: 1; width: 1fr; }
    LearningRatePanel Label { width: 12; padding: 0 1 0 0; }
    LearningRatePanel Sparkline { width: 1fr; height: 1; }
    LearningRatePanel Sparkline > .sparkline--max-color { color: $accent; }
    LearningRatePanel Sparkline > .sparkline--min-color { color: $accent 40%; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.history = BoundedSeries(capacity=512)
        self.current: float | None = None
        self._varies = False

    def compose(self) -> ComposeResult:
        yield Label("LR -", id="lr-value")
        yield Sparkline([], id="lr-spark")

    def on_resize(self, event: events.Resize) -> None:
        """The sparkline is downsampled to its width."""
        self.mark_dirty()

    def redraw(self) -> None:
        """Show the current value and the downsampled history."""
        if self.current is None:
            return
        set_text(self.query_one("#lr-value", Label), f"LR [b]{learning_rate(self.current)}[/]")
        spark = self.query_one("#lr-spark", Sparkline)
        # The width it will have, not spark.size: that is 0 while the sparkline is hidden.
        width = self.content_size.width - LABEL_WIDTH
        _, values = downsample(*self.history.points(), max(2, width))
        # A constant rate would draw as a full bar, which reads like progress.
        spark.display = max(values) > min(values)
        spark.data = values

    @singledispatchmethod
    def take(self, event: ev.Event) -> None:
        """Follow the learning rate."""

    def restore(self, summary: RunSummary) -> None:
        """The value and history of the learning rate so far."""
        super().restore(summary)
        xs, ys = summary.lr.points()
        self.add_points(list(zip(xs, ys, strict=True)))

    def add_points(self, points: list[tuple[float, float]]) -> None:
        """Record (global_step, lr) of progress events, the coalesced ones included."""
        for step, lr in points:
            self._record(step, lr)

    @take.register
    def _(self, event: ev.LRChanged) -> None:
        self._record(event.global_step, event.new_lr)

    def _record(self, step: float, lr: float) -> None:
        # Once the rate has changed the sparkline is shown, and every new point moves it;
        # while it is constant the sparkline is hidden and only the value matters.
        self._varies = self._varies or (self.current is not None and lr != self.current)
        if lr != self.current or self._varies:
            self.mark_dirty()
        self.current = lr
        if lr > 0:
            self.history.append(step, math.log10(lr))
