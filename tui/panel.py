"""The contract between the app and its panels: take events, redraw on the throttled tick."""

from __future__ import annotations

from trainui.core.events import Event


class EventPanel:
    """Mixin for widgets fed with core events.

    `take` folds an event into the panel's state and marks it dirty; the app's timer calls
    `flush` a few times a second, which redraws only panels whose state changed. This keeps
    redraws (and terminal bytes over SSH) bounded however fast events arrive.
    """

    _stale = False

    def take(self, event: Event) -> None:
        """Fold an event into the panel's state (default: ignore it)."""

    def mark_dirty(self) -> None:
        """Ask for a redraw at the next tick."""
        self._stale = True

    def needs_redraw(self) -> bool:
        """Whether the next tick should redraw (panels showing a clock extend this)."""
        return self._stale

    def flush(self) -> None:
        """Redraw if something changed since the last flush."""
        if self.needs_redraw():
            self._stale = False
            self.redraw()

    def redraw(self) -> None:
        """Show the current state on screen."""
