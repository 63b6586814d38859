"""Event log panel: timestamped lines for saves, LR changes, pauses, stops; bounded, folded
and reflowed to the panel's width."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from rich.style import Style
from rich.text import Text
from textual import events
from textual.color import Color
from textual.widgets import RichLog

from trainui.core import events as ev
from trainui.core.event_text import describe, epoch_note
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
FOLD_WITHIN = 4
"""Lines back to look for the epoch line a routine event joins."""


@dataclass
class LogEntry:
    """One line of the log: when, what, its theme colour, and the epoch it ends, if any."""

    stamp: str
    line: str
    color: str
    epoch: int | None = None
    notes: list[str] = field(default_factory=list)
    """Routine events folded into this epoch's line (`best saved`)."""

    def text(self, colors: dict[str, str]) -> Text:
        """The line as shown: dim stamp, the words in their colour, folded notes dim."""
        style = Style(color=Color.parse(colors[self.color]).rich_color)
        parts = [Text(self.stamp + " ", style="dim"), Text(self.line, style=style)]
        if self.notes:
            parts.append(Text("  · " + ", ".join(self.notes), style="dim"))
        return Text.assemble(*parts)


class EventLog(EventPanel, RichLog):
    """The last MAX_LINES noteworthy events, stamped with time since the run started.

    Routine end-of-epoch events (a new best checkpoint) join their epoch's line. The lines
    are kept as entries, so a change of width rewraps them all.
    """

    DEFAULT_CSS = """
    EventLog { height: 25%; min-height: 4; border-top: solid $panel; padding: 0 1;
               overflow-x: hidden; scrollbar-size-vertical: 1; scrollbar-gutter: stable; }
    """

    slow = True

    def __init__(self, **kwargs: object) -> None:
        super().__init__(max_lines=MAX_LINES, min_width=1, wrap=True, markup=False, **kwargs)  # type: ignore[arg-type]
        self._start: float | None = None
        self._entries: deque[LogEntry] = deque(maxlen=MAX_LINES)
        self._pending: list[LogEntry] = []
        """Entries not written yet: the next redraw writes them in one repaint."""
        self._rewrite = False
        """Every entry must be written anew (a width change, or a line already shown
        changed)."""
        self._width = 0

    def take(self, event: ev.Event) -> None:
        """Queue the event's line, if it has one (or fold it into its epoch's line); lines
        are written on the next tick.

        Each write scrolls and repaints the whole log, so the lines of one tick (an epoch's
        end brings two or three) go out together in one repaint.
        """
        if self._start is None:
            self._start = event.time
        if self._fold(event):
            return
        line = describe(event)
        if line is None:
            return
        epoch = event.epoch if isinstance(event, ev.EpochEnded) else None
        entry = LogEntry(format_clock(event.time - self._start), line,
                         LOG_COLORS.get(event.kind, "foreground"), epoch)
        self._entries.append(entry)
        self._pending.append(entry)
        self.mark_dirty()

    def _fold(self, event: ev.Event) -> bool:
        """Add a routine event to the line of the epoch it belongs to; False if it has none."""
        note = epoch_note(event)
        line = None if note is None else self._epoch_line(getattr(event, "epoch", None))
        if note is None or line is None:
            return False
        line.notes.append(note)
        if not any(entry is line for entry in self._pending):
            self._rewrite = True  # that line is on screen already
        self.mark_dirty()
        return True

    def _epoch_line(self, epoch: int | None) -> LogEntry | None:
        """The line of `epoch`'s end among the last few (an LR change may follow it)."""
        for entry in list(self._entries)[-FOLD_WITHIN:][::-1]:
            if entry.epoch is not None:
                return entry if entry.epoch == epoch else None
        return None

    def restore(self, summary: RunSummary) -> None:
        """The latest lines of the run so far, stamped from the run's first event."""
        if summary.started_at is not None:
            self._start = summary.started_at
        for event in summary.log:
            self.take(event)

    def on_resize(self, event: events.Resize) -> None:
        """Rewrap every line to a new width; keep the newest lines in view when the log
        changes height (the end-of-run layout gives it fewer rows): otherwise the last
        lines, the outcome, would be hidden."""
        width = self.scrollable_content_region.width
        if width != self._width:
            self._width = width
            if self._entries:
                self._rewrite = True
                self.redraw()
        self._follow_end()

    def redraw(self) -> None:
        """Write the queued lines (all of them, after a width change or a fold), wrapped to
        the log's width; none before it has one (its first resize writes them)."""
        width = self.scrollable_content_region.width
        if not width:
            return
        if self._rewrite:
            self._rewrite = False
            self.clear()
            self._pending = list(self._entries)
        pending, self._pending = self._pending, []
        colors = self.app.theme_variables
        for entry in pending:
            self.write(entry.text(colors), width=width, scroll_end=False)
        if pending:
            self._follow_end()

    def scroll_by_key(self, where: str) -> None:
        """`up` or `down` a page, or to the `end` (where new lines are followed again)."""
        page = max(1, self.scrollable_content_region.height - 1)
        target: float
        if where == "end":
            target = self.max_scroll_y
        else:
            target = self.scroll_y + (page if where == "down" else -page)
        target = max(0, min(self.max_scroll_y, target))
        self.auto_scroll = target >= self.max_scroll_y
        self.scroll_to(y=target, animate=False, immediate=True)

    def _follow_end(self) -> None:
        """Show the newest line, unless the user scrolled up to read older ones.

        At once when the scrollbar is up (a deferred scroll repaints the whole log a second
        time, one frame later); after the next layout otherwise, since a log whose
        scrollbar is not shown yet cannot scroll.
        """
        if self.auto_scroll:
            self.scroll_end(animate=False, immediate=self.show_vertical_scrollbar, x_axis=False)
