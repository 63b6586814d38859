"""Time-based throttling: act at most every `interval` seconds, checked cheaply."""

from __future__ import annotations

import time


class Throttle:
    """Says when `interval` seconds have passed since it last said so."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next = time.monotonic() + interval

    def ready(self) -> bool:
        """True (and re-armed) once the interval has passed; otherwise False."""
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self.interval
        return True
