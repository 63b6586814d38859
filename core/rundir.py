"""The run directory: config.json, checkpoints/, history.csv, metrics.json."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import Any

from .errors import TrainuiError
from .events import EpochEnded, EvaluationFinished, Event, Finished
from .files import FileWriter
from .history import rows_to_csv


def new_run_name(dataset: str, model: str) -> str:
    """Return `<dataset>-<model>-<YYYYmmdd-HHMMSS>`, factory specs shortened to their name."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{_short(dataset)}-{_short(model)}-{stamp}"


def _short(name: str) -> str:
    return name.rpartition(":")[2].replace("/", "_") or "custom"


def create_run_dir(run_dir: str | None, runs_root: str, name: str) -> Path:
    """Create the run's folder (owner-only); refuse one that already holds a run."""
    path = Path(run_dir) if run_dir else unique_path(Path(runs_root) / name)
    refuse_existing_run(path)
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path, 0o700)
        probe = path / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise TrainuiError(f"cannot write run directory {path}: {exc.strerror or exc}") from None
    return path


def refuse_existing_run(path: Path) -> None:
    """Raise TrainuiError if `path` already holds a run: it is never overwritten."""
    if (path / "config.json").exists():
        raise TrainuiError(
            f"run directory {path} already holds a run (choose another --run-dir, "
            f"or continue it with --resume {path})"
        )


def unique_path(path: Path) -> Path:
    """`path`, or `path-2`, `path-3`... whichever does not exist yet."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


class RunFilesSink:
    """Keeps history.csv and metrics.json up to date from the run's events."""

    def __init__(self, writer: FileWriter) -> None:
        self.writer = writer
        self.rows: list[dict[str, float]] = []
        self.evaluation: dict[str, Any] | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, EpochEnded):
            self._epoch_ended(event)
        elif isinstance(event, EvaluationFinished):
            self.evaluation = {**event.metrics, "weights": event.weights}
        elif isinstance(event, Finished) and self.evaluation is not None:
            self.writer.write_json("metrics.json", {
                **self.evaluation, "stop_cause": event.cause, "stop_reason": event.reason,
                "epochs_completed": event.epochs_completed,
            })

    def load_history(self, rows: list[dict[str, float]]) -> None:
        """Start from earlier epochs (a resumed run keeps its whole history)."""
        self.rows = list(rows)

    def _epoch_ended(self, event: EpochEnded) -> None:
        self.rows.append({
            "epoch": event.epoch, "train_loss": event.train_loss,
            "train_acc": event.train_accuracy, "val_loss": event.val_loss,
            "val_acc": event.val_accuracy, "lr": event.lr, "epoch_time": event.epoch_time,
            "samples_per_second": event.samples_per_second,
        })
        self.writer.write_text("history.csv", rows_to_csv(self.rows))


LOCK_FILE = ".lock"


class RunLock:
    """An exclusive lock on a run directory for as long as one process trains it.

    The kernel drops it when the process dies, even by kill -9, so a lock that cannot be
    taken means a live trainer.
    """

    def __init__(self, run_dir: Path) -> None:
        self._fd = os.open(run_dir / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise TrainuiError(f"run {run_dir} is being trained by another process") from None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self._fd)  # closing the descriptor releases the lock


def is_locked(run_dir: Path) -> bool:
    """True while some process holds the run's lock (it is training the run)."""
    try:
        fd = os.open(run_dir / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
