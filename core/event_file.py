"""events.jsonl: the run's append-only event log, and a reader that tolerates crashes.

One compact JSON object per line, each with `kind` and the schema version `v`. Every event
but progress is written and flushed as it happens, so a second process (`trainui watch`)
sees it at once. Progress is coalesced to at most one line every `progress_interval`
seconds (its step losses merged and downsampled), and floats keep 7 significant digits, so
the log grows by a few MB per training hour. A process killed mid-write leaves at most one
partial last line, which readers skip.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from .events import Event, Progress, event_from_dict
from .series import downsample

EVENT_LOG = "events.jsonl"
PROGRESS_INTERVAL = 0.5
"""Seconds between progress lines in the file, at most (the view's default refresh rate)."""
STEP_POINTS_PER_LINE = 16
"""Step losses a progress line carries at most (a chart is a few hundred cells wide)."""

Written = Callable[[Event, int], None]
"""Told of each event as written, with the log's size in bytes after it."""


class EventLogSink:
    """Appends events to RUN_DIR/events.jsonl; `on_written` hears of each line written."""

    def __init__(self, path: str | os.PathLike[str], *, enabled: bool = True,
                 progress_interval: float = PROGRESS_INTERVAL,
                 on_written: Written | None = None) -> None:
        self.path = Path(path)
        self.progress_interval = progress_interval
        self.on_written = on_written
        self.offset = 0
        """Size of the log in bytes after the last line written."""
        self._file: IO[bytes] | None = None
        self._pending: Progress | None = None
        self._progress_written_at = -float("inf")
        if enabled:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._file = os.fdopen(fd, "ab")
            self.offset = os.fstat(fd).st_size
            if _ends_mid_line(self.path):
                self._file.write(b"\n")  # a crashed writer's partial line stays on its own
                self.offset += 1

    def __call__(self, event: Event) -> None:
        if self._file is None:
            return
        if isinstance(event, Progress):
            self._pending = merge_progress(self._pending, event)
            if event.time - self._progress_written_at < self.progress_interval:
                return  # by the events' own clock, so a replayed stream thins the same
            event, self._pending = self._pending, None
            self._progress_written_at = event.time
        elif self._pending is not None:
            pending, self._pending = self._pending, None  # progress comes first, in order
            self._write(pending)
        self._write(event)

    def _write(self, event: Event) -> None:
        assert self._file is not None
        compact = compact_values(event.to_dict())
        data = json.dumps(compact, allow_nan=True, separators=(",", ":")).encode() + b"\n"
        self._file.write(data)
        # Flushed every time, so a watcher (or the TUI of the same run) shows it live.
        self._file.flush()
        self.offset += len(data)
        if self.on_written is not None:
            # As a reader of the file will see it: compacted values, not the originals.
            self.on_written(event_from_dict(compact) or event, self.offset)

    def close(self) -> None:
        """Write any held progress, flush and close the file (closed even if that write
        fails, on a full disk say)."""
        if self._file is None:
            return
        try:
            if self._pending is not None:
                pending, self._pending = self._pending, None
                self._write(pending)
        finally:
            self._file.close()
            self._file = None


def merge_progress(older: Progress | None, newer: Progress) -> Progress:
    """One progress event standing for both: the newer figures, the step losses of both,
    and every metric either carried (the newer value where both did)."""
    if older is None:
        points, metrics = newer.step_losses, newer.metrics
    else:
        points = older.step_losses + newer.step_losses
        metrics = {**older.metrics, **newer.metrics}
    if len(points) > STEP_POINTS_PER_LINE:
        xs, ys = downsample([p[0] for p in points], [p[1] for p in points],
                            STEP_POINTS_PER_LINE)
        points = [[x, y] for x, y in zip(xs, ys, strict=True)]
    return dataclasses.replace(newer, step_losses=points, metrics=metrics)


TIME_KEYS = frozenset({"time", "started_at"})
"""Keys whose floats are wall-clock times: seven significant digits of one would be
whole kiloseconds, so these keep milliseconds instead."""


def compact_values(value: Any) -> Any:
    """Floats with 7 significant digits (times to the millisecond), in nested values too."""
    if isinstance(value, float):
        return float(f"{value:.7g}")
    if isinstance(value, dict):
        return {key: (round(item, 3) if key in TIME_KEYS and isinstance(item, float)
                      else compact_values(item)) for key, item in value.items()}
    if isinstance(value, list):
        return [compact_values(item) for item in value]
    return value


class EventLogReader:
    """Reads events.jsonl incrementally: each `read_new()` returns events added since."""

    def __init__(self, path: str | os.PathLike[str], offset: int = 0) -> None:
        self.path = Path(path)
        self.offset = offset
        """Bytes of the file read so far (complete lines only)."""
        self._partial = b""

    def skip_to_end(self) -> None:
        """Start reading at the current end of the file (older events are not wanted)."""
        try:
            self.offset = self.path.stat().st_size
        except FileNotFoundError:
            self.offset = 0
        self._partial = b""

    def read_new(self, limit: int | None = None) -> list[Event]:
        """Complete new lines as events; unknown kinds and broken lines are skipped.

        With `limit`, at most about that many bytes are read this time.
        """
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset + len(self._partial))
                chunk = handle.read(-1 if limit is None else limit)
        except FileNotFoundError:
            return []
        data = self._partial + chunk
        end = data.rfind(b"\n") + 1
        self._partial = data[end:]  # an unfinished last line waits for its end
        self.offset += end
        return [event for event in map(_parse, data[:end].split(b"\n")) if event is not None]

    def __iter__(self) -> Iterator[Event]:
        """Every complete event from here to the end of the file, read in chunks."""
        while True:
            events = self.read_new(limit=4 << 20)
            if not events and not self._grew():
                return
            yield from events

    def _grew(self) -> bool:
        try:
            return self.path.stat().st_size > self.offset + len(self._partial)
        except FileNotFoundError:
            return False


def read_events(path: str | os.PathLike[str]) -> Iterator[Event]:
    """All complete events of a log, oldest first (read in chunks, not all at once)."""
    yield from EventLogReader(path)


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
