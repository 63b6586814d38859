"""How a run reaches the app: a feed of its events, and a summary of what came before."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from textual.app import App

from trainui.core.events import Event
from trainui.core.run_summary import RunSummary

from .messages import SummaryRestored, event_message


class AppFeed:
    """What a job feeds the app through: events, and a summary of the run so far."""

    def __init__(self, app: App[None]) -> None:
        self._app = app

    def __call__(self, event: Event) -> None:
        self._app.post_message(event_message(event))

    def restore(self, summary: RunSummary) -> None:
        """What happened before the view opened."""
        self._app.post_message(SummaryRestored(summary))


class Feed(Protocol):
    """A sink for a run's events that also takes a summary of the run so far."""

    def __call__(self, event: Event) -> None:
        """One event."""

    def restore(self, summary: RunSummary) -> None:
        """What happened before."""


Job = Callable[[Feed], object]
"""Feeds a run to the view: `feed(event)` for each event, optionally `feed.restore(summary)`
first for what happened before the view opened; returns when the run ended."""
