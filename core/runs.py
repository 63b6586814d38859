"""Find and summarise runs from their directories (events.jsonl is the source of truth)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import TrainuiError
from .event_log import EVENT_LOG, read_events
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
from .rundir import is_locked


@dataclass
class RunSummary:
    """One line of `trainui runs`."""

    path: Path
    state: str
    """running, paused, finished, stopped, failed, interrupted."""
    epochs_done: int
    epochs: int | None
    best: str
    started: float


def is_run_dir(path: Path) -> bool:
    """True for a folder that holds a trainui run."""
    return (path / "config.json").is_file()


def find_runs(root: str | os.PathLike[str]) -> list[Path]:
    """Run directories directly under `root`, oldest first by start time."""
    base = Path(root)
    if not base.is_dir():
        return []
    runs = [p for p in base.iterdir() if p.is_dir() and is_run_dir(p)]
    return sorted(runs, key=lambda p: ((p / "config.json").stat().st_mtime, p.name))


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
        started=started.time if started else (run_dir / "config.json").stat().st_mtime,
    )


def current_session(events: list[Event]) -> list[Event]:
    """The events since the last RunStarted: a resumed run's earlier ending is history."""
    starts = [i for i, event in enumerate(events) if isinstance(event, RunStarted)]
    return events[starts[-1]:] if starts else events


def run_state(run_dir: Path, events: list[Event]) -> str:
    """What the run is doing now, from its last events and whether its trainer is alive."""
    events = current_session(events)
    for event in reversed(events):
        if isinstance(event, Failed):
            return "failed"
        if isinstance(event, Finished):
            return "finished" if event.cause == "completed" else "stopped"
    if not trainer_alive(run_dir):
        return "interrupted"
    pauses = [e for e in events if isinstance(e, Paused | Resumed)]
    return "paused" if pauses and isinstance(pauses[-1], Paused) else "running"


def trainer_alive(run_dir: Path) -> bool:
    """True while a process holds the run's lock (it is training or starting to)."""
    return is_locked(run_dir)


def _best(events: list[Event]) -> str:
    for event in reversed(events):
        if isinstance(event, EarlyStoppingUpdated) and event.best is not None:
            return f"{event.monitor} {event.best:.4f} (epoch {event.best_epoch})"
    return "-"
