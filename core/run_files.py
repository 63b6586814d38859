"""history.csv and metrics.json: the run's results as files, kept current from its events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .events import EpochEnded, EvaluationFinished, Event, Finished
from .files import FileWriter
from .history import rows_to_csv
from .queued_files import QueuedFiles


class RunFilesSink:
    """Keeps history.csv and metrics.json up to date from the run's events.

    history.csv is rewritten off the training thread after each epoch (`QueuedFiles`);
    when the run finishes it is on disk before metrics.json is written, and both before
    the Finished line reaches events.jsonl. `close` waits for a write still pending.
    """

    def __init__(self, writer: FileWriter) -> None:
        self.writer = writer
        self.files = QueuedFiles(writer, name="trainui-history-writer")
        self.rows: list[dict[str, float | None]] = []
        self.evaluation: dict[str, Any] | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, EpochEnded):
            self._epoch_ended(event)
        elif isinstance(event, EvaluationFinished):
            self.evaluation = {**event.metrics, "weights": event.weights}
        elif isinstance(event, Finished):
            self.files.flush()
            self._write_metrics(event)

    def close(self) -> None:
        """Wait until the last history.csv is on disk."""
        self.files.close()

    def _write_metrics(self, event: Finished) -> None:
        if self.evaluation is not None:
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
        rows = list(self.rows)  # rows are never changed once added: a snapshot
        self.files.put("history.csv", lambda: rows_to_csv(rows).encode("utf-8"))
