"""Headless console output: log-file-safe lines, one per epoch and one per notable event."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from .events import (
    CheckpointSaved,
    EarlyStoppingUpdated,
    EpochEnded,
    EvaluationFinished,
    Event,
    Failed,
    Finished,
    LRChanged,
    NonFiniteLoss,
    Paused,
    Progress,
    Resumed,
    RunStarted,
    StopRequested,
    TrainingStopped,
)


def _pct(value: float) -> str:
    return f"{100 * value:6.2f}%"


class ConsoleSink:
    """Prints events as plain lines (no carriage returns, no colours).

    Progress events become a line only every `heartbeat` seconds, so a long epoch still
    shows signs of life in a log file without flooding it.
    """

    def __init__(
        self, stream: TextIO | None = None, heartbeat: float = 30.0, failures: bool = False
    ) -> None:
        self.stream: TextIO | None = stream or sys.stdout
        self.heartbeat = heartbeat
        self.failures = failures
        """Print Failed events too (when no one else reports the error)."""
        self._last_line = time.monotonic()
        self._width = 1

    def __call__(self, event: Event) -> None:
        line = self.format(event)
        if line is None or self.stream is None:
            return
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except OSError:
            self.stream = None  # a closed pipe or a gone terminal must not stop training
        self._last_line = time.monotonic()

    def format(self, event: Event) -> str | None:  # noqa: C901 - one branch per event type
        """Return the line for `event`, or None when it prints nothing."""
        if isinstance(event, RunStarted):
            self._width = len(str(event.epochs))
            return (
                f"run {event.run_name}: {event.model_name} ({event.parameter_count:,} params) "
                f"on {event.dataset_name} (train {event.train_size}, val {event.val_size}, "
                f"test {event.test_size}), device {event.device}"
                + (f", dir {event.run_dir}" if event.run_dir else "")
            )
        if isinstance(event, Progress):
            return self._progress(event)
        if isinstance(event, EpochEnded):
            return self._epoch(event)
        if isinstance(event, LRChanged):
            return f"lr {event.old_lr:.3g} -> {event.new_lr:.3g} ({event.scheduler})"
        if isinstance(event, EarlyStoppingUpdated):
            return self._early_stopping(event)
        if isinstance(event, CheckpointSaved):
            return self._checkpoint(event)
        if isinstance(event, Paused):
            return f"paused at step {event.global_step}"
        if isinstance(event, Resumed):
            return f"resumed at step {event.global_step} after {event.paused_seconds:.1f}s"
        if isinstance(event, StopRequested):
            when = "after this epoch" if event.mode == "epoch" else "now"
            return f"stop requested ({event.source}): stopping {when}"
        if isinstance(event, NonFiniteLoss):
            return f"non-finite loss ({event.value}) at step {event.global_step}: stopping"
        if isinstance(event, TrainingStopped):
            return f"training stopped: {event.reason}"
        if isinstance(event, EvaluationFinished):
            return self._evaluation(event)
        if isinstance(event, Finished):
            return f"finished in {event.elapsed:.1f}s ({event.epochs_completed} epochs)"
        if isinstance(event, Failed) and self.failures:
            return f"failed: {event.message}"
        # Otherwise Failed prints nothing: the command line reports it once, on stderr.
        return None

    def _progress(self, event: Progress) -> str | None:
        if time.monotonic() - self._last_line < self.heartbeat:
            return None
        return (
            f"epoch {event.epoch:>{self._width}}/{event.epochs} step "
            f"{event.step}/{event.steps_per_epoch}  loss {event.train_loss:.4f} "
            f"acc {_pct(event.train_accuracy)}  {event.samples_per_second:,.0f} samples/s"
        )

    def _epoch(self, event: EpochEnded) -> str:
        return (
            f"epoch {event.epoch:>{self._width}}/{event.epochs}  "
            f"train loss {event.train_loss:.4f} acc {_pct(event.train_accuracy)}  "
            f"val loss {event.val_loss:.4f} acc {_pct(event.val_accuracy)}  "
            f"lr {event.lr:.3g}  {event.epoch_time:.1f}s  "
            f"{event.samples_per_second:,.0f} samples/s"
        )

    @staticmethod
    def _early_stopping(event: EarlyStoppingUpdated) -> str | None:
        if event.improved:
            return None
        return (
            f"early stopping: {event.wait_count}/{event.patience} epochs without improvement "
            f"(best {event.monitor} {event.best:.4f} at epoch {event.best_epoch})"
            if event.best is not None
            else f"early stopping: {event.wait_count}/{event.patience}"
        )

    @staticmethod
    def _checkpoint(event: CheckpointSaved) -> str | None:
        if event.reason == "last":
            return None  # written every epoch: not notable
        metric = (
            f" ({event.monitor} {event.value:.4f})"
            if event.monitor and event.value is not None else ""
        )
        return f"checkpoint {event.reason}{metric}: {event.path}"

    @staticmethod
    def _evaluation(event: EvaluationFinished) -> str:
        m = event.metrics
        return (
            f"test ({event.weights} weights, {m['samples']} samples): accuracy "
            f"{_pct(m['accuracy'])}  precision {m['precision']:.4f}  recall {m['recall']:.4f}  "
            f"f1 {m['f1']:.4f}"
        )
