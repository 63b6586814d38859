"""The contract between the app and its panels: take events, redraw on the throttled tick."""

from __future__ import annotations

import typing

from textual.content import Content
from textual.widget import Widget
from textual.widgets import Static

from trainui.core.events import Event
from trainui.core.run_summary import RunSummary


class EventPanel:
    """Mixin for the widgets fed with core events (listed before the widget class).

    `take` folds an event into the panel's state and marks it dirty; the app's timer calls
    `flush` a few times a second, which redraws only panels whose state changed. This keeps
    redraws (and terminal bytes over SSH) bounded however fast events arrive.
    """

    _stale = False
    slow = False
    """Flushed at the app's slower rate: charts (costly to draw and to send) and the event
    log (each new line scrolls, so re-sends, the whole log)."""

    def take(self, event: Event) -> None:
        """Fold an event into the panel's state (default: ignore it)."""

    def restore(self, summary: RunSummary) -> None:
        """Take in what happened before the view opened (default: the summary's replay)."""
        for event in summary.replay():
            self.take(event)

    def mark_dirty(self) -> None:
        """Ask for a redraw at the next tick."""
        self._stale = True

    def needs_redraw(self) -> bool:
        """Whether the next tick should redraw (panels showing a clock extend this)."""
        return self._stale

    def flush(self) -> bool:
        """Redraw if something changed since the last flush; True if it redrew."""
        # Composed children are mounted before the panel counts as mounted, and a panel
        # being removed is detached first: either way there is nothing to draw into yet.
        widget = typing.cast(Widget, self)
        if not (self.needs_redraw() and widget.is_mounted and widget.is_attached):
            return False
        self.redraw()
        self._stale = False
        return True

    def redraw(self) -> None:
        """Show the current state on screen."""


def set_text(widget: Static, content: str | Content) -> None:
    """Show `content` in a Static (or Label), repainting it only if it changed.

    Static.update re-lays out the whole screen by default, which also repaints widgets whose
    geometry did not change (the event log's scrollbar, for one). A layout is only needed
    when the text's width changes and the widget sizes itself to its content.
    """
    text = content if isinstance(content, Content) else Content.from_markup(content)
    previous = getattr(widget, "_trainui_text", None)
    if previous is not None and previous == text:
        return
    width_changed = previous is None or previous.cell_length != text.cell_length
    widget._trainui_text = text  # type: ignore[attr-defined]
    width = widget.styles.width
    sized_by_content = width is None or width.is_auto
    widget.update(text, layout=width_changed and sized_by_content)
