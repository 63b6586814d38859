"""Event log panel: timestamped lines for saves, LR changes, pauses, stops; bounded."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.widgets import RichLog

from trainui.core import events as ev
from trainui.core.event_text import describe
from trainui.core.run_summary import RunSummary

from .panel import EventPanel
from .timing import format_clock

MAX_LINES = 500
LOG_COLORS: dict[str, str] = {
    "checkpoint_saved": "success",
    "lr_changed": "accent",
    "paused": "warning",
    "resumed": "warning",
    "stop_requested": "warning",
    "early_stopping_updated": "warning",
    "non_finite_loss": "error",
    "rolled_back": "warning",
    "failed": "error",
    "training_stopped": "primary",
    "finished": "primary",
}
"""Event kind -> theme colour name; other kinds use the foreground colour."""


class EventLog(EventPanel, RichLog):
    """The last MAX_LINES noteworthy events, stamped with time since the run started."""

    DEFAULT_CSS = """
    EventLog { height: 8; border-top: solid $panel; padding: 0 1; overflow-x: hidden;
               scrollbar-size-vertical: 1; }
    """

    slow = True

    def __init__(self, **kwargs: object) -> None:
        super().__init__(max_lines=MAX_LINES, wrap=True, markup=False, **kwargs)  # type: ignore[arg-type]
        self._start: float | None = None
        self._pending: list[Text] = []

    def take(self, event: ev.Event) -> None:
        """Queue the event's line, if it has one; lines are written on the next tick.

        Each write scrolls and repaints the whole log, so the lines of one tick (an epoch's
        end brings two or three) go out together in one repaint.
        """
        if self._start is None:
            self._start = event.time
        line = describe(event)
        if line is None:
            return
        color = self.app.theme_variables[LOG_COLORS.get(event.kind, "foreground")]
        stamp = Text(format_clock(event.time - self._start) + " ", style="dim")
        style = Style(color=Color.parse(color).rich_color)
        self._pending.append(Text.assemble(stamp, Text(line, style=style)))
        self.mark_dirty()

    def restore(self, summary: RunSummary) -> None:
        """The latest lines of the run so far, stamped from the run's first event."""
        if summary.started_at is not None:
            self._start = summary.started_at
        for event in summary.log:
            self.take(event)

    def on_resize(self, event: object) -> None:
        """Keep the newest lines in view when the log changes height (the end-of-run layout
        gives it fewer rows): otherwise the last lines, the outcome, would be hidden."""
        self._follow_end()

    def redraw(self) -> None:
        """Write the queued lines."""
        pending, self._pending = self._pending, []
        for line in pending:
            self.write(line, scroll_end=False)
        if pending:
            self._follow_end()

    def _follow_end(self) -> None:
        """Show the newest line, unless the user scrolled up to read older ones.

        At once when the scrollbar is up (a deferred scroll repaints the whole log a second
        time, one frame later); after the next layout otherwise, since a log whose
        scrollbar is not shown yet cannot scroll.
        """
        if self.auto_scroll:
            self.scroll_end(animate=False, immediate=self.show_vertical_scrollbar, x_axis=False)
