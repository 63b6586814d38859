"""Several runs side by side (`trainui compare`): the metrics they share, each run's best
value of one, the config keys whose values differ, and their final figures.

Runs are read with `load_results` (history.csv, metrics.json, the summary), so a run
still training is read again cheaply whenever its files change (`RunFiles.changed`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import TrainuiError
from .event_file import EVENT_LOG
from .outcome import RunState
from .run_dir import is_locked
from .run_results import HISTORY, METRICS, RunResults, load_results
from .run_summary import SUMMARY

FIRST_METRICS = ("val_loss", "val_acc", "train_loss", "train_acc")
"""Charted first, in this order, when the runs share them; then the runs' own metrics."""
LAST_METRICS = ("lr", "epoch_time", "samples_per_second")
"""Charted last: how the runs trained rather than how well."""
LIVE_STATES = (RunState.STARTING, RunState.RUNNING, RunState.PAUSED)
UNCOMPARED_KEYS = ("run_dir",)
"""Config keys that differ between any two runs and say nothing about them."""
HIGHER_IS_BETTER = ("acc", "f1", "precision", "recall", "auc", "bleu", "score", "samples_per")
LOWER_IS_BETTER = ("loss", "perplexity", "error", "mse", "mae", "time")


@dataclass(frozen=True)
class Best:
    """A run's best value of one metric and the epoch it came at."""

    value: float
    epoch: int


def load_runs(paths: Sequence[str | os.PathLike[str]]) -> list[RunResults]:
    """The runs to compare, read; TrainuiError for fewer than two, one named twice, or a
    directory that is not a run."""
    if len(paths) < 2:
        raise TrainuiError(f"compare needs at least 2 run directories, got {len(paths)}")
    seen: set[Path] = set()
    for path in paths:
        resolved = Path(path).resolve()
        if resolved in seen:
            raise TrainuiError(f"cannot compare {path}: it is named twice")
        seen.add(resolved)
    return [load_results(Path(path), "compare") for path in paths]


def shared_metrics(runs: Sequence[RunResults]) -> list[str]:
    """Per-epoch metrics every run has a value of: validation and training loss and
    accuracy first, then the runs' own, then LR, epoch time and throughput."""
    common: set[str] | None = None
    for run in runs:
        logged = {key for row in run.rows for key, value in row.items() if value is not None}
        common = logged if common is None else common & logged
    found = sorted((common or set()) - {"epoch"})
    first = [name for name in FIRST_METRICS if name in found]
    last = [name for name in LAST_METRICS if name in found]
    return first + [name for name in found if name not in first + last] + last


def goal(metric: str) -> str | None:
    """"max" when a higher value of `metric` is better, "min" when a lower one is, None
    when neither can be told from its name (the LR, a metric of the run's own)."""
    name = metric.lower()
    if any(word in name for word in HIGHER_IS_BETTER):
        return "max"
    if any(word in name for word in LOWER_IS_BETTER):
        return "min"
    return None


def best(run: RunResults, metric: str) -> Best | None:
    """The run's best value of `metric` (the first epoch that reached it), or None when
    the metric has no direction or no finite value."""
    direction = goal(metric)
    points = [(value, epoch) for epoch, value in zip(*run.series(metric), strict=True)
              if math.isfinite(value)]
    if direction is None or not points:
        return None
    sign = -1 if direction == "max" else 1
    value, epoch = min(points, key=lambda point: (sign * point[0], point[1]))
    return Best(value, epoch)


def last_value(run: RunResults, metric: str) -> float | None:
    """The run's latest value of `metric`."""
    _, values = run.series(metric)
    return values[-1] if values else None


def config_differences(runs: Sequence[RunResults]) -> list[tuple[str, list[Any]]]:
    """(key, each run's value) for the config keys whose values are not all the same; a
    run without the key has None."""
    keys: list[str] = []
    for run in runs:
        keys += [key for key in run.config if key not in keys and key not in UNCOMPARED_KEYS]
    differences = []
    for key in keys:
        values = [run.config.get(key) for run in runs]
        if any(value != values[0] for value in values[1:]):
            differences.append((key, values))
    return differences


def is_live(run: RunResults) -> bool:
    """Whether a process trains the run now (its figures will change)."""
    return run.state in LIVE_STATES


@dataclass
class RunFiles:
    """Reads a run again when its files change: how a view follows runs still training."""

    path: Path
    signature: tuple[object, ...] = field(default=())

    def changed(self) -> bool:
        """Whether the run's files, or whether a process trains it, changed since the last
        call (True the first time). A trainer killed outright writes nothing more: only
        its lock, let go, says the run is no longer running."""
        signature = (is_locked(self.path), *(_stamp(self.path / name)
                                             for name in (EVENT_LOG, SUMMARY, HISTORY, METRICS)))
        if signature == self.signature:
            return False
        self.signature = signature
        return True

    def read(self) -> RunResults:
        """The run as its files say now."""
        return load_results(self.path, "compare")


def read_changed(watched: Sequence[RunFiles]) -> dict[int, RunResults]:
    """The runs whose files changed since the last look, read again, by their index in
    `watched`; a run caught in the middle of a write is read at the next look."""
    changed = {}
    for index, files in enumerate(watched):
        if files.changed():
            try:
                changed[index] = files.read()
            except TrainuiError:
                continue
    return changed


def _stamp(file: Path) -> tuple[int, int]:
    try:
        stat = file.stat()
    except OSError:
        return (-1, -1)
    return (stat.st_size, stat.st_mtime_ns)
