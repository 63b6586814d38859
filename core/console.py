"""Headless console output: log-file-safe lines, one per epoch and one per notable event."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from .event_text import describe, progress_line
from .events import Event, Failed, Progress


class ConsoleSink:
    """Prints events as plain lines (no carriage returns, no colours).

    Progress events become a line only every `heartbeat` seconds without other output, so
    a long epoch still shows signs of life in a log file without flooding it.
    """

    def __init__(
        self, stream: TextIO | None = None, heartbeat: float = 15.0, failures: bool = False
    ) -> None:
        self.stream: TextIO | None = stream or sys.stdout
        self.heartbeat = heartbeat
        self.failures = failures
        """Print Failed events too (when no one else reports the error)."""
        self._last_line = time.monotonic()

    def __call__(self, event: Event) -> None:
        line = self.format(event)
        if line is not None:
            self.write(line)

    def write(self, line: str) -> None:
        """Print one line now; a closed pipe or a gone terminal silences the sink."""
        if self.stream is None:
            return
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            self.stream = None  # it must not stop training
        self._last_line = time.monotonic()

    def format(self, event: Event) -> str | None:
        """The line for `event`, or None when it prints nothing."""
        if isinstance(event, Progress):
            if time.monotonic() - self._last_line < self.heartbeat:
                return None
            return progress_line(event)
        if isinstance(event, Failed) and not self.failures:
            return None  # the command line reports the error once, on stderr
        return describe(event)
