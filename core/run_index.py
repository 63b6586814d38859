"""Find run directories and say what each run is doing (`trainui runs`, `trainui watch`).

Each run is read through its summary (summary.json plus the events written after it), so
listing many long runs stays quick.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import formats
from .errors import TrainuiError
from .events import Failed, Finished
from .outcome import RunState
from .result_tables import duration_text
from .run_dir import CONFIG, is_locked, is_run_dir
from .run_summary import SUMMARY, load_summary


@dataclass
class RunListing:
    """One line of `trainui runs`."""

    path: Path
    state: RunState
    epochs_done: int
    epochs: int | None
    best: str
    started: float
    note: str = ""
    """Why the run could not be read, when it could not."""
    test_accuracy: float | None = None
    duration: float | None = None
    """Seconds the run trained, every session together (None until it ended once)."""


def find_runs(root: str | os.PathLike[str]) -> list[Path]:
    """Run directories directly under `root`, oldest first by start time."""
    return scan_runs(root)[0]


def scan_runs(root: str | os.PathLike[str]) -> tuple[list[Path], list[Path]]:
    """(run directories under `root`, oldest first; directories that could not be read)."""
    base = Path(root)
    if not base.is_dir():
        return [], []
    try:
        entries = list(base.iterdir())
    except PermissionError:
        raise TrainuiError(f"cannot list {root}: permission denied") from None
    folders = [p for p in entries if _is_dir(p)]
    unreadable = [p for p in folders if not os.access(p, os.R_OK | os.X_OK)]
    runs = [p for p in folders if p not in unreadable and is_run_dir(p)]
    return sorted(runs, key=lambda p: (_created(p), p.name)), sorted(unreadable)


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def _created(run_dir: Path) -> float:
    try:
        return (run_dir / CONFIG).stat().st_mtime
    except OSError:
        return 0.0


def latest_run(root: str | os.PathLike[str]) -> Path:
    """The run to watch under `root`: the most recent one still training, else the most
    recently started; TrainuiError if there is none."""
    runs = find_runs(root)
    if not runs:
        raise TrainuiError(f"no runs found in {root} (start one with `trainui`)")
    alive = [run for run in runs if is_locked(run)]
    return (alive or runs)[-1]


def list_run(run_dir: Path) -> RunListing:
    """State, progress and best metric of one run; an unreadable run says why."""
    try:
        brief = (run_dir / SUMMARY).exists()  # else: read it all once, and keep that
        summary = load_summary(run_dir, brief=brief, keep=not brief)
    except OSError as exc:
        return RunListing(run_dir, RunState.INTERRUPTED, 0, None, "-", _created(run_dir),
                          note=f"unreadable: {exc.strerror or exc}")
    started = summary.started
    epochs = summary.epochs
    best = summary.best()
    ending = summary.ending()
    finished = ending if isinstance(ending, Finished) else None
    accuracy = ((finished and finished.metrics) or {}).get("accuracy")
    return RunListing(
        test_accuracy=float(accuracy) if isinstance(accuracy, int | float) else None,
        duration=finished.elapsed if finished else None,
        note=ending.message if isinstance(ending, Failed) else "",
        path=run_dir,
        state=summary.state(trainer_alive=is_locked(run_dir)),
        epochs_done=epochs[-1].epoch if epochs else 0,
        epochs=started.epochs if started else None,
        best=(f"{best.monitor} {formats.metric(best.monitor, best.best)} "
              f"(epoch {best.best_epoch})"
              if best is not None and best.best is not None else "-"),
        started=summary.sessions[0].time if summary.sessions else _created(run_dir),
    )


LISTING_HEADER = ("RUN", "STATE", "EPOCHS", "BEST", "TEST ACC", "DURATION", "STARTED", "WHY")
NOTE_WIDTH = 72
"""Characters of a failed run's one-line cause shown in a listing (watch shows all)."""


def listing_cells(listing: RunListing) -> tuple[str, ...]:
    """One run's cells under LISTING_HEADER."""
    epochs = (f"{listing.epochs_done}/{listing.epochs}" if listing.epochs
              else str(listing.epochs_done))
    accuracy = "-" if listing.test_accuracy is None else formats.percent(listing.test_accuracy)
    started = time.strftime("%Y-%m-%d %H:%M", time.localtime(listing.started))
    note = listing.note
    why = note if len(note) <= NOTE_WIDTH else note[:NOTE_WIDTH - 1] + "…"
    return (str(listing.path), str(listing.state), epochs, listing.best, accuracy,
            duration_text(listing.duration), started, why)


def listing_table(listings: list[RunListing]) -> str:
    """One aligned line per run, in the order given, under a header."""
    return "\n".join(aligned([LISTING_HEADER, *(listing_cells(item) for item in listings)]))


def aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows of cells as lines of columns two spaces apart, each as wide as its widest cell."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))] if rows else []
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            .rstrip() for row in rows]
