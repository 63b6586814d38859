"""Find run directories and say what each run is doing (`trainui runs`, `trainui watch`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import TrainuiError
from .event_file import EVENT_LOG, read_events
from .events import (
    EarlyStoppingUpdated,
    EpochEnded,
    Event,
    Failed,
    Finished,
    Paused,
    Resumed,
    RunStarted,
)
from .outcome import RunState, state_of_ending
from .run_dir import CONFIG, is_locked, is_run_dir


@dataclass
class RunSummary:
    """One line of `trainui runs`."""

    path: Path
    state: RunState
    epochs_done: int
    epochs: int | None
    best: str
    started: float


def find_runs(root: str | os.PathLike[str]) -> list[Path]:
    """Run directories directly under `root`, oldest first by start time."""
    base = Path(root)
    if not base.is_dir():
        return []
    runs = [p for p in base.iterdir() if p.is_dir() and is_run_dir(p)]
    return sorted(runs, key=lambda p: (_created(p), p.name))


def _created(run_dir: Path) -> float:
    try:
        return (run_dir / CONFIG).stat().st_mtime
    except OSError:
        return 0.0


def latest_run(root: str | os.PathLike[str]) -> Path:
    """The most recently started run under `root`, or TrainuiError if there is none."""
    runs = find_runs(root)
    if not runs:
        raise TrainuiError(f"no runs found in {root} (start one with `trainui`)")
    return runs[-1]


def summarise(run_dir: Path) -> RunSummary:
    """State, progress and best metric of one run."""
    events = list(read_events(run_dir / EVENT_LOG))
    started = next((e for e in events if isinstance(e, RunStarted)), None)
    epochs = [e for e in events if isinstance(e, EpochEnded)]
    return RunSummary(
        path=run_dir,
        state=run_state(run_dir, events),
        epochs_done=epochs[-1].epoch if epochs else 0,
        epochs=started.epochs if started else None,
        best=_best(events),
        started=started.time if started else _created(run_dir),
    )


def current_session(events: list[Event]) -> list[Event]:
    """The events since the last RunStarted: a resumed run's earlier ending is history."""
    starts = [i for i, event in enumerate(events) if isinstance(event, RunStarted)]
    return events[starts[-1]:] if starts else events


def run_state(run_dir: Path, events: list[Event]) -> RunState:
    """What the run is doing now, from its last events and whether its trainer is alive."""
    events = current_session(events)
    for event in reversed(events):
        if isinstance(event, Failed):
            return RunState.FAILED
        if isinstance(event, Finished):
            return state_of_ending(event.cause)
    if not is_locked(run_dir):
        return RunState.INTERRUPTED
    pauses = [e for e in events if isinstance(e, Paused | Resumed)]
    return RunState.PAUSED if pauses and isinstance(pauses[-1], Paused) else RunState.RUNNING


def _best(events: list[Event]) -> str:
    for event in reversed(events):
        if isinstance(event, EarlyStoppingUpdated) and event.best is not None:
            return f"{event.monitor} {event.best:.4f} (epoch {event.best_epoch})"
    return "-"
