"""events.jsonl: the run's append-only event log, and a reader that tolerates crashes.

One JSON object per line, each with `kind` and the schema version `v`. Every event is
flushed as it is written (the loop throttles progress events to a few a second), so a
second process (`trainui watch`) sees it at once. A process killed mid-write leaves at most
one partial last line, which readers skip.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .events import Event, event_from_dict

EVENT_LOG = "events.jsonl"


class EventLogSink:
    """Appends every event to RUN_DIR/events.jsonl."""

    def __init__(self, path: str | os.PathLike[str], *, enabled: bool = True) -> None:
        self.path = Path(path)
        self._file: IO[str] | None = None
        if enabled:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._file = os.fdopen(fd, "a", encoding="utf-8")
            if _ends_mid_line(self.path):
                self._file.write("\n")  # a crashed writer's partial line stays on its own

    def __call__(self, event: Event) -> None:
        if self._file is None:
            return
        self._file.write(json.dumps(event.to_dict(), allow_nan=True) + "\n")
        # Flushed every time: progress is already throttled to a few lines a second by
        # the loop, and a watcher (or the TUI of the same run) shows it live.
        self._file.flush()

    def close(self) -> None:
        """Flush and close the file."""
        if self._file is not None:
            self._file.close()
            self._file = None


class EventLogReader:
    """Reads events.jsonl incrementally: each `read_new()` returns events added since."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._offset = 0
        self._partial = b""

    def skip_to_end(self) -> None:
        """Start reading at the current end of the file (older events are not wanted)."""
        try:
            self._offset = self.path.stat().st_size
        except FileNotFoundError:
            self._offset = 0
        self._partial = b""

    def read_new(self) -> list[Event]:
        """Complete new lines as events; unknown kinds and broken lines are skipped."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()  # an unfinished last line waits for its end
        return [event for event in map(_parse, lines) if event is not None]


def read_events(path: str | os.PathLike[str]) -> Iterator[Event]:
    """All complete events of a log, oldest first."""
    yield from EventLogReader(path).read_new()


def _ends_mid_line(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() == 0:
            return False
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) != b"\n"


def _parse(line: bytes) -> Event | None:
    try:
        data: Any = json.loads(line)
    except ValueError:
        return None
    return event_from_dict(data) if isinstance(data, dict) else None
