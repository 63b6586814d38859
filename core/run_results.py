"""A run's results read back from its directory: what `trainui plot`, `trainui export` and
`trainui runs --format` show.

Per-epoch figures come from history.csv (full precision, one row per epoch of the run as
it stands, a resumed run included); test metrics, per-class scores and the confusion
matrix from metrics.json (else the run's last `finished` event); state, best epoch and
duration from the run's summary. Torch-free and quick: no checkpoint is opened.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import TrainuiError
from .events import EarlyStoppingUpdated, Finished
from .history import EPOCH_KEYS, csv_to_rows
from .outcome import RunState
from .run_dir import CONFIG, check_run_dir, is_locked
from .run_summary import RunSummary, load_summary

HISTORY = "history.csv"
METRICS = "metrics.json"
TEST_KEYS = ("accuracy", "precision", "recall", "f1")
"""The test metrics every finished run has (precision, recall and F1 weighted by class)."""


@dataclass
class RunResults:
    """Everything a run's files say about how it went."""

    run_dir: Path
    state: RunState
    config: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, float | None]] = field(default_factory=list)
    """history.csv: one dict per epoch (`epoch`, `train_loss`, ... and any other metric)."""
    metrics: dict[str, Any] | None = None
    """metrics.json: test metrics, `per_class`, `confusion_matrix`, `class_names`..."""
    best_monitor: str | None = None
    best_value: float | None = None
    best_epoch: int | None = None
    started: float | None = None
    """Wall-clock time the run's first session started."""
    duration: float | None = None
    """Seconds the run trained, every session together (None until it ended once)."""
    epochs: int | None = None
    """Epochs the run was set to train."""

    @property
    def name(self) -> str:
        """The run's name: its directory's."""
        return self.run_dir.name

    @property
    def epochs_done(self) -> int:
        """Epochs in the run's history."""
        return int(self.rows[-1]["epoch"] or 0) if self.rows else 0

    @property
    def class_names(self) -> list[str]:
        """The classes of the test metrics (empty without them)."""
        names = (self.metrics or {}).get("class_names") or []
        return [str(name) for name in names]

    @property
    def confusion_matrix(self) -> list[list[int]] | None:
        """Rows are true classes, columns predicted ones; None without a test evaluation."""
        matrix = (self.metrics or {}).get("confusion_matrix")
        return matrix if isinstance(matrix, list) and matrix else None

    @property
    def per_class(self) -> dict[str, dict[str, float]]:
        """Per-class precision, recall, F1 and support, by class name."""
        scores = (self.metrics or {}).get("per_class")
        return scores if isinstance(scores, dict) else {}

    def test(self, key: str) -> float | None:
        """A test metric (`accuracy`, `f1`...), or None."""
        value = (self.metrics or {}).get(key)
        return float(value) if isinstance(value, int | float) else None

    def series(self, key: str) -> tuple[list[int], list[float]]:
        """(epochs, values) of one history column, epochs without a value left out."""
        xs, ys = [], []
        for row in self.rows:
            value = row.get(key)
            if value is not None and row.get("epoch") is not None:
                xs.append(int(row["epoch"]))  # type: ignore[arg-type]
                ys.append(float(value))
        return xs, ys

    def lr_changes(self) -> list[tuple[int, float]]:
        """(epoch, new LR) for each epoch whose LR differs from the epoch before."""
        epochs, lrs = self.series("lr")
        return [(epoch, lr) for i, (epoch, lr) in enumerate(zip(epochs, lrs, strict=True))
                if i > 0 and lr != lrs[i - 1]]

    def extra_columns(self) -> list[str]:
        """History columns beyond the standard ones (metrics a run of your own logs)."""
        columns: list[str] = []
        for row in self.rows:
            columns += [key for key in row if key not in EPOCH_KEYS and key not in columns]
        return columns


def load_results(run_dir: str | Path, action: str = "read") -> RunResults:
    """The results of the run in `run_dir`; TrainuiError for a directory that is not a run
    or whose files cannot be read."""
    path = Path(run_dir)
    check_run_dir(path, action)
    try:
        summary = load_summary(path)
        results = RunResults(run_dir=path, state=summary.state(trainer_alive=is_locked(path)))
        results.config = _read_json(path / CONFIG, path, action) or {}
        results.rows = _read_history(path, summary, action)
        results.metrics = _read_json(path / METRICS, path, action) or _finished_metrics(summary)
    except PermissionError as exc:
        raise TrainuiError(f"cannot {action} {path}: {exc.filename or path}: "
                           "permission denied") from None
    except OSError as exc:
        raise TrainuiError(f"cannot {action} {path}: {exc.strerror or exc}") from None
    _add_summary(results, summary)
    return results


def _read_json(file: Path, run_dir: Path, action: str) -> dict[str, Any] | None:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError):
        raise TrainuiError(f"cannot {action} {run_dir}: {file.name} is not valid JSON") from None
    return data if isinstance(data, dict) else None


def _read_history(run_dir: Path, summary: RunSummary, action: str) -> list[dict[str, Any]]:
    """history.csv, else (a run that has not ended an epoch, or an old one) its epochs."""
    try:
        text = (run_dir / HISTORY).read_text(encoding="utf-8")
    except FileNotFoundError:
        return [_row_of(event) for event in summary.epochs]
    try:
        return csv_to_rows(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TrainuiError(f"cannot {action} {run_dir}: {HISTORY} is not a history table "
                           f"({exc})") from None


def _row_of(event: Any) -> dict[str, Any]:
    row = {key: getattr(event, key) for key in EPOCH_KEYS}
    return {**row, **event.metrics}


def _finished_metrics(summary: RunSummary) -> dict[str, Any] | None:
    ending = summary.ending()
    if not isinstance(ending, Finished) or not ending.metrics:
        return None
    return {**ending.metrics, "confusion_matrix": ending.confusion_matrix,
            "class_names": ending.class_names, "stop_cause": ending.cause,
            "epochs_completed": ending.epochs_completed}


def _add_summary(results: RunResults, summary: RunSummary) -> None:
    started = summary.started
    if summary.sessions:
        results.started = summary.sessions[0].time
    if started is not None:
        results.epochs = started.epochs
    ending = summary.ending()
    if isinstance(ending, Finished):
        results.duration = ending.elapsed
        if ending.best_epoch is not None:
            results.best_monitor = ending.best_monitor
            results.best_value = ending.best_value
            results.best_epoch = ending.best_epoch
            return
    best = summary.best()
    if isinstance(best, EarlyStoppingUpdated) and best.best_epoch is not None:
        results.best_monitor, results.best_value = best.monitor, best.best
        results.best_epoch = best.best_epoch
