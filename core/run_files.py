"""history.csv and metrics.json: the run's results as files, kept current from its events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .events import EpochEnded, EvaluationFinished, Event, Finished
from .files import FileWriter
from .history import rows_to_csv


class RunFilesSink:
    """Keeps history.csv and metrics.json up to date from the run's events."""

    def __init__(self, writer: FileWriter) -> None:
        self.writer = writer
        self.rows: list[dict[str, float | None]] = []
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

    def load_history(self, rows: Sequence[Mapping[str, float | None]]) -> None:
        """Start from earlier epochs (a resumed run keeps its whole history)."""
        self.rows = [dict(row) for row in rows]

    def _epoch_ended(self, event: EpochEnded) -> None:
        self.rows.append({
            "epoch": event.epoch, "train_loss": event.train_loss, "train_acc": event.train_acc,
            "val_loss": event.val_loss, "val_acc": event.val_acc, "lr": event.lr,
            "epoch_time": event.epoch_time, "samples_per_second": event.samples_per_second,
            **event.metrics,
        })
        self.writer.write_text("history.csv", rows_to_csv(self.rows))
