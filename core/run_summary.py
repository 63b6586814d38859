"""A run's summary: what a view needs to show the whole run, bounded, kept in summary.json.

The trainer folds every event it writes to events.jsonl into a `RunSummary` and rewrites
RUN_DIR/summary.json (atomically) at epoch ends, on state changes and every few seconds.
The summary records the size of events.jsonl it covers, so a watcher or `trainui runs`
reads the small summary plus only the events written after it: attaching costs the same
for a ten-minute run and a three-day one. A run without a summary (made before there
were summaries) is summarised by reading its whole log once.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .event_file import EVENT_LOG, EventLogReader, compact_values
from .event_text import describe
from .events import (
    EarlyStoppingUpdated,
    EpochEnded,
    Event,
    Failed,
    Finished,
    LRChanged,
    Progress,
    RolledBack,
    RunStarted,
    StageStarted,
    event_from_dict,
)
from .files import FileWriter
from .outcome import RunState, state_of_ending
from .queued_files import QueuedFiles
from .run_dir import is_locked
from .series import BoundedSeries

SUMMARY = "summary.json"
SUMMARY_VERSION = 1
LOG_TAIL = 200
"""Lines of the event log a summary keeps for a view."""
MAX_EPOCH_ROWS = 2048
"""Epochs a summary keeps; beyond it, every other older epoch is dropped (charts thin them
to their width anyway; history.csv keeps every epoch)."""
MAX_METRICS = 64
"""Step metrics (grad norm, perplexity...) a summary keeps, the first logged."""
METRIC_POINTS = 512
"""Points kept per step metric."""
SESSION_KINDS = ("progress", "stage_started", "early_stopping_updated", "paused", "resumed",
                 "stop_requested", "non_finite_loss", "training_stopped",
                 "evaluation_finished", "finished", "failed")
"""Kinds whose latest event of the current session a summary keeps."""


@dataclass
class RunSummary:
    """The bounded digest of a run's events (every session), and what it covers."""

    sessions: list[RunStarted] = field(default_factory=list)
    epochs: list[EpochEnded] = field(default_factory=list)
    step_loss: BoundedSeries = field(default_factory=BoundedSeries)
    lr: BoundedSeries = field(default_factory=lambda: BoundedSeries(512))
    metrics: dict[str, BoundedSeries] = field(default_factory=dict)
    """Every other scalar logged with training steps (Progress.metrics), by name."""
    log: deque[Event] = field(default_factory=lambda: deque(maxlen=LOG_TAIL))
    latest: dict[str, Event] = field(default_factory=dict)
    """The last event of each of SESSION_KINDS in the current session."""
    events_offset: int = 0
    """Bytes of events.jsonl this summary covers."""

    early_stopping: EarlyStoppingUpdated | None = None
    """The latest early-stopping state, whichever session it came from (best value so far)."""
    started_at: float | None = None
    """Time of the run's first event: the log's time stamps count from it."""
    _compacted: dict[int, tuple[Event, dict[str, Any]]] = field(
        default_factory=dict, repr=False, compare=False)
    """Each held event's compacted dict, by id, for `compact_dict`."""

    @property
    def started(self) -> RunStarted | None:
        """The latest session's start (an earlier session's while a new one sets up)."""
        return self.sessions[-1] if self.sessions else None

    @property
    def setting_up(self) -> bool:
        """A session is being set up: a stage began after the last RunStarted, and the
        session has not ended (a set-up can fail before training starts)."""
        stage = self.latest.get("stage_started")
        return (stage is not None and (self.started is None or stage.time > self.started.time)
                and self.ending() is None)

    def add(self, event: Event) -> None:
        """Fold one event in."""
        if self.started_at is None:
            self.started_at = event.time
        if isinstance(event, StageStarted) and not self.setting_up and (
                self.started is not None or self.ending() is not None):
            self.latest.clear()  # the first stage of a new session
        if isinstance(event, RunStarted):
            self._start_session(event)
        else:
            self._fold_series(event)
        if event.kind in SESSION_KINDS:
            self.latest[event.kind] = event
        if describe(event) is not None:
            self.log.append(event)

    def _fold_series(self, event: Event) -> None:
        """Epoch rows, step losses, learning rates and the early-stopping state."""
        if isinstance(event, EpochEnded):
            self.epochs.append(event)
            if len(self.epochs) > MAX_EPOCH_ROWS:
                self.epochs = self.epochs[:-1][::2] + self.epochs[-1:]
        elif isinstance(event, Progress):
            for step, loss in event.step_losses:
                self.step_loss.append(step, loss)
            if event.lr is not None:
                self._record_lr(event.global_step, event.lr)
            self._record_metrics(event)
        elif isinstance(event, LRChanged):
            self._record_lr(event.global_step, event.new_lr)
        elif isinstance(event, RolledBack):
            self._truncate(event.to_step)
        elif isinstance(event, EarlyStoppingUpdated):
            self.early_stopping = event

    def _start_session(self, event: RunStarted) -> None:
        # A resumed session goes back to its checkpoint: whatever the killed one logged
        # after it is no longer part of the run.
        self.sessions.append(event)
        self.epochs = [e for e in self.epochs if e.epoch <= event.start_epoch]
        self._truncate(event.start_epoch * event.steps_per_epoch)
        stage = self.latest.get("stage_started")
        self.latest.clear()
        if stage is not None:
            self.latest["stage_started"] = stage

    def _truncate(self, last_step: int) -> None:
        """Forget the steps after `last_step` (training went back to it)."""
        self.step_loss.truncate(last_step)
        self.lr.truncate(last_step)
        for series in self.metrics.values():
            series.truncate(last_step)

    def _record_metrics(self, event: Progress) -> None:
        for name, value in event.metrics.items():
            series = self.metrics.get(name)
            if series is None and len(self.metrics) < MAX_METRICS:
                series = self.metrics[name] = BoundedSeries(METRIC_POINTS)
            if series is not None:
                series.append(event.global_step, value)

    def _record_lr(self, step: int, lr: float) -> None:
        self.lr.append(step, lr)

    def ending(self) -> Finished | Failed | None:
        """How the current session ended, if it has."""
        for kind in ("failed", "finished"):
            event = self.latest.get(kind)
            if isinstance(event, Finished | Failed):
                return event
        return None

    def state(self, trainer_alive: bool) -> RunState:
        """What the run is doing, given whether a process trains it now."""
        ending = self.ending()
        if isinstance(ending, Failed):
            return RunState.FAILED
        if isinstance(ending, Finished):
            return state_of_ending(ending.cause)
        if not trainer_alive:
            return RunState.INTERRUPTED
        if self.setting_up or self.started is None:
            return RunState.STARTING
        paused, resumed = self.latest.get("paused"), self.latest.get("resumed")
        if paused is not None and (resumed is None or resumed.time < paused.time):
            return RunState.PAUSED
        return RunState.RUNNING

    def best(self) -> EarlyStoppingUpdated | None:
        """The latest early-stopping state (best value and epoch), if any."""
        return self.early_stopping

    def replay(self) -> list[Event]:
        """Events that rebuild a view of the run: every session's start, every epoch, the
        latest of each kind in the current session (progress carrying every step loss
        kept), in time order. The log tail and the LR history are separate."""
        events: list[Event] = [*self.sessions, *self.epochs]
        for kind, event in self.latest.items():
            if kind == "progress" and isinstance(event, Progress):
                xs, ys = self.step_loss.points()
                event = dataclasses.replace(
                    event, step_losses=[[x, y] for x, y in zip(xs, ys, strict=True)])
            events.append(event)
        return sorted(events, key=lambda e: e.time)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what summary.json holds, before `compact_values`)."""
        return self._as_dict(lambda event: event.to_dict(), lambda points: points)

    def compact_dict(self) -> dict[str, Any]:
        """`compact_values(self.to_dict())`, what summary.json holds; each event's part is
        made once and reused by later calls (events never change)."""
        cache, self._compacted = self._compacted, {}

        def of(event: Event) -> dict[str, Any]:
            hit = cache.get(id(event))
            if hit is None or hit[0] is not event:
                hit = (event, compact_values(event.to_dict()))
            self._compacted[id(event)] = hit
            return hit[1]

        data = self._as_dict(of, compact_values)
        if self.started_at is not None:
            data["started_at"] = round(self.started_at, 3)  # a time: to the millisecond
        return data

    def _as_dict(self, event_dict: Callable[[Event], dict[str, Any]],
                 points: Callable[[list[Any]], list[Any]]) -> dict[str, Any]:
        return {
            "v": SUMMARY_VERSION,
            "events_offset": self.events_offset,
            "sessions": [event_dict(e) for e in self.sessions],
            "epochs": [event_dict(e) for e in self.epochs],
            "step_loss": points(list(self.step_loss.points())),
            "lr": points(list(self.lr.points())),
            "metrics": {name: points(list(series.points()))
                        for name, series in self.metrics.items()},
            "log": [event_dict(e) for e in self.log],
            "latest": [event_dict(e) for e in self.latest.values()],
            "early_stopping": self.early_stopping and event_dict(self.early_stopping),
            "started_at": self.started_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, brief: bool = False) -> RunSummary:
        """Rebuild a summary from `to_dict` output; ValueError if it is not one.

        `brief` keeps only what a listing needs (sessions, the latest events, the last
        epoch, early-stopping lines of the log): much less to build for a long run.
        """
        if not isinstance(data, dict) or data.get("v") != SUMMARY_VERSION:
            raise ValueError("not a summary this trainui reads")
        epochs, log = data["epochs"], data["log"]
        if brief:
            epochs, log = epochs[-1:], []
        summary = cls(sessions=_events(data["sessions"], RunStarted),
                      epochs=_events(epochs, EpochEnded),
                      events_offset=int(data["events_offset"]))
        if not brief:
            for xs, ys, series in ((*data["step_loss"], summary.step_loss),
                                   (*data["lr"], summary.lr)):
                for x, y in zip(xs, ys, strict=True):
                    series.append(float(x), float(y))
            for name, (xs, ys) in data.get("metrics", {}).items():
                series = summary.metrics[name] = BoundedSeries(METRIC_POINTS)
                for x, y in zip(xs, ys, strict=True):
                    series.append(float(x), float(y))
        summary.log.extend(_events(log, Event))
        summary.latest = {e.kind: e for e in _events(data["latest"], Event)}
        stopping = _events([data.get("early_stopping")], EarlyStoppingUpdated)
        summary.early_stopping = stopping[0] if stopping else None
        started_at = data.get("started_at")
        summary.started_at = float(started_at) if isinstance(started_at, int | float) else None
        return summary


_E = TypeVar("_E", bound=Event)


def _events(items: Iterable[Any], kind: type[_E]) -> list[_E]:
    events = [event_from_dict(item) for item in items if isinstance(item, dict)]
    return [event for event in events if isinstance(event, kind)]


class RunSummarySink:
    """Folds the events written to events.jsonl into summary.json (the trainer's side).

    Give `written` to the EventLogSink as its `on_written`, so the summary covers exactly
    the lines in the file. It is saved at state changes and epoch ends, at most once per
    `min_interval` seconds, and at least every `max_interval` seconds while anything
    happens.
    """

    SAVE_ON = ("stage_started", "run_started", "epoch_ended", "paused", "resumed",
               "stop_requested", "non_finite_loss", "training_stopped", "finished", "failed")
    SAVE_AT_ONCE = ("finished", "failed", "paused")
    """States a watcher may attach to for long: saved even within min_interval."""

    def __init__(self, run_dir: Path, summary: RunSummary, *, min_interval: float = 1.0,
                 max_interval: float = 10.0) -> None:
        self.files = QueuedFiles(FileWriter(run_dir), name="trainui-summary-writer")
        self.summary = summary
        self.min_interval, self.max_interval = min_interval, max_interval
        self._saved_at = -float("inf")
        self._unsaved = False

    def written(self, event: Event, offset: int) -> None:
        """An event went into events.jsonl, which is now `offset` bytes long."""
        self.summary.add(event)
        self.summary.events_offset = offset
        self._unsaved = True
        since = time.monotonic() - self._saved_at
        if event.kind in self.SAVE_AT_ONCE or since >= self.max_interval or (
                event.kind in self.SAVE_ON and since >= self.min_interval):
            self.save()
        if event.kind == "finished":
            self.files.flush()  # a write error then fails the run, as any sink's does

    def save(self) -> None:
        """Write summary.json now, if anything changed since it was last written."""
        if self._unsaved:
            data = self.summary.compact_dict()  # a snapshot: the events are immutable
            self.files.put(SUMMARY, lambda: json.dumps(data, separators=(",", ":")).encode())
            self._saved_at = time.monotonic()
            self._unsaved = False

    def close(self) -> None:
        """Save what is unsaved and wait until summary.json is on disk."""
        try:
            self.save()
        finally:
            self.files.close()


def load_summary(run_dir: Path, *, brief: bool = False, keep: bool = False) -> RunSummary:
    """The run's summary, brought up to the end of events.jsonl.

    Reads summary.json and only the events after the part it covers; without a usable
    summary.json (a run made before summaries), reads the whole log once. `brief`: only
    what listing the run needs (see `RunSummary.from_dict`). `keep`: when a run that no
    process trains had no usable summary, write the one just read, so the next look at
    it is quick (nothing is written where that is not allowed).
    """
    stored = _stored_summary(run_dir, brief)
    summary = stored or RunSummary()
    reader = EventLogReader(run_dir / EVENT_LOG, offset=summary.events_offset)
    for event in reader:
        summary.add(event)
    summary.events_offset = reader.offset
    if keep and stored is None and summary.events_offset and not (run_dir / SUMMARY).exists():
        _keep(run_dir, summary)  # (one that exists but is unreadable, or newer, stays)
    return summary


def _stored_summary(run_dir: Path, brief: bool) -> RunSummary | None:
    try:
        data = json.loads((run_dir / SUMMARY).read_text())
        summary = RunSummary.from_dict(data, brief=brief)
        log_size = os.stat(run_dir / EVENT_LOG).st_size
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return summary if summary.events_offset <= log_size else None


def _keep(run_dir: Path, summary: RunSummary) -> None:
    if is_locked(run_dir):
        return  # its trainer (an older trainui) owns the directory
    try:
        data = summary.compact_dict()
        FileWriter(run_dir).write_text(SUMMARY, json.dumps(data, separators=(",", ":")))
    except OSError:
        pass  # a read-only directory, another user's run: read it again next time
