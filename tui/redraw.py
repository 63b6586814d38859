"""When the live view repaints: text panels on each tick, charts and the log less often.

Kept free of Textual so the command line can read the defaults without importing it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Protocol

REFRESH_RATE = 2.0
"""Screen updates per second at most, by default."""
MAX_REFRESH_RATE = 60.0
"""The most screen updates a second anyone gets: Textual's own frame cap (its MAX_FPS)."""
CHART_RATE = 1.0
"""Redraws per second, at most, of the charts and the event log. A chart redraw costs
~15 ms and re-sends the whole chart area (~10 KB for both charts at 120x40); a new log line
scrolls, so re-sends, the whole log."""


class Flushable(Protocol):
    """A panel that redraws itself if its state changed since it last did."""

    slow: bool

    def flush(self) -> bool:
        """Redraw if needed; True if it redrew."""


class RedrawSchedule:
    """Flushes text panels on every tick and slow panels at most `chart_rate` times a second
    (and only those with new data)."""

    def __init__(self, panels: Sequence[Flushable], *, refresh_rate: float = REFRESH_RATE,
                 chart_rate: float = CHART_RATE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not (refresh_rate > 0 and chart_rate > 0):
            raise ValueError("refresh_rate and chart_rate must be positive")
        self.text = [panel for panel in panels if not panel.slow]
        self.slow = [panel for panel in panels if panel.slow]
        refresh_rate = min(refresh_rate, MAX_REFRESH_RATE)  # a terminal shows no more
        self.tick_interval = 1 / refresh_rate
        self._slow_interval = 1 / min(chart_rate, refresh_rate)
        self._slow_drawn_at = -math.inf
        self._clock = clock

    def flush(self, *, now: bool = False) -> None:
        """Redraw what changed; slow panels only if their interval passed, unless `now`."""
        for panel in self.text:
            panel.flush()
        if now or self._clock() - self._slow_drawn_at >= self._slow_interval:
            # A list, not a generator: every slow panel with new data redraws in this frame.
            if any([panel.flush() for panel in self.slow]):
                self._slow_drawn_at = self._clock()
