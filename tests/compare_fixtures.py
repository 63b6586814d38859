"""Run directories written directly (no training) for the compare tests: the files a
trainer leaves (marker, config.json, events.jsonl, summary.json, history.csv, metrics.json)
from made-up epochs, with fixed times, so views of them look the same everywhere."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trainui.core import events as ev
from trainui.core.files import FileWriter
from trainui.core.run_dir import create_run_dir
from trainui.core.run_files import RunFilesSink
from trainui.core.run_record import RunRecord

START = 1_700_000_000.0
CONFIG = {"dataset": "digits", "model": "cnn", "epochs": 6, "batch_size": 64, "lr": 0.001,
          "optimizer": "adam", "seed": 42}
CLASSES = [str(digit) for digit in range(10)]

Row = dict[str, float]


def row(epoch: int, val_loss: float, val_acc: float, **extra: float) -> Row:
    """One epoch's figures: training a little better than validation."""
    return {"epoch": epoch, "train_loss": val_loss * 0.8, "train_acc": min(1.0, val_acc + 0.01),
            "val_loss": val_loss, "val_acc": val_acc, "lr": 0.001, "epoch_time": 2.0,
            "samples_per_second": 600.0, **extra}


def epoch_event(values: Row, epochs: int) -> ev.EpochEnded:
    """The EpochEnded event of one row (columns beyond the standard ones as metrics)."""
    standard = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time",
                "samples_per_second")
    epoch = int(values["epoch"])
    return ev.EpochEnded(
        time=START + 10 * epoch, epoch=epoch, epochs=epochs, train_loss=values["train_loss"],
        train_acc=values["train_acc"], val_loss=values["val_loss"], val_acc=values["val_acc"],
        lr=values["lr"], epoch_time=values["epoch_time"],
        samples_per_second=values["samples_per_second"], global_step=20 * epoch,
        metrics={key: value for key, value in values.items() if key not in standard})


def started(name: str, run_dir: Path, config: dict[str, Any], epochs: int) -> ev.RunStarted:
    """The run's first event."""
    return ev.RunStarted(
        time=START, run_name=name, run_dir=str(run_dir), config=config, device="cpu",
        model_name=str(config.get("model")), parameter_count=1000, dataset_name="digits",
        train_size=1257, val_size=270, test_size=270, class_names=CLASSES, epochs=epochs,
        steps_per_epoch=20)


def early_stopping(rows: Sequence[Row]) -> ev.EarlyStoppingUpdated:
    """Early stopping's state after the last of `rows` (monitoring the validation loss)."""
    best = min(rows, key=lambda values: values["val_loss"])
    epoch = int(rows[-1]["epoch"])
    return ev.EarlyStoppingUpdated(
        time=START + 10 * epoch + 0.1, epoch=epoch, monitor="val_loss", mode="min",
        value=rows[-1]["val_loss"], best=best["val_loss"], best_epoch=int(best["epoch"]),
        wait_count=epoch - int(best["epoch"]), patience=5, improved=best is rows[-1])


def ending(rows: Sequence[Row], test_accuracy: float, elapsed: float) -> list[ev.Event]:
    """The test evaluation and Finished of a run that trained all its epochs."""
    last = int(rows[-1]["epoch"])
    best = min(rows, key=lambda values: values["val_loss"])
    metrics = {"accuracy": test_accuracy, "precision": test_accuracy, "recall": test_accuracy,
               "f1": test_accuracy, "samples": 270}
    when = START + 10 * last + 5
    return [
        ev.EvaluationFinished(time=when, split="test", weights="best", metrics=metrics),
        ev.Finished(time=when + 1, cause="completed", reason=f"completed {last} epochs",
                    epochs_completed=last, global_step=20 * last, elapsed=elapsed,
                    metrics=metrics, confusion_matrix=None, class_names=CLASSES,
                    best_monitor="val_loss", best_value=best["val_loss"],
                    best_epoch=int(best["epoch"])),
    ]


def write_run(run_dir: Path, rows: Sequence[Row], *, config: dict[str, Any] | None = None,
              test_accuracy: float | None = None, elapsed: float = 60.0) -> Path:
    """A run directory holding `rows` as its epochs; finished (with a test evaluation)
    when `test_accuracy` is given, else left as a run that stopped mid-way."""
    settings = {**CONFIG, **(config or {}), "run_dir": str(run_dir)}
    create_run_dir(run_dir)
    FileWriter(run_dir).write_json("config.json", settings)
    epochs = int(settings["epochs"])
    events: list[ev.Event] = [started(run_dir.name, run_dir, settings, epochs)]
    for index, values in enumerate(rows):
        events += [epoch_event(values, epochs), early_stopping(rows[:index + 1])]
    if test_accuracy is not None:
        events += ending(rows, test_accuracy, elapsed)
    add_events(run_dir, events)
    return run_dir


def add_events(run_dir: Path, events: Sequence[ev.Event], earlier: Sequence[Row] = ()) -> None:
    """Write events as a trainer does: events.jsonl, summary.json, history.csv (after the
    `earlier` rows it already holds) and metrics.json."""
    record = RunRecord(run_dir)
    files = RunFilesSink(FileWriter(run_dir))
    files.load_history(earlier)
    for event in events:
        record(event)
        files(event)
    files.close()
    record.close()


def three_runs(root: Path) -> list[Path]:
    """Three runs of different learning rates: two finished, one stopped after 4 epochs."""
    fast = [row(1, 0.40, 0.90), row(2, 0.12, 0.96), row(3, 0.09, 0.97), row(4, 0.11, 0.965),
            row(5, 0.08, 0.975), row(6, 0.085, 0.98)]
    steady = [row(1, 1.10, 0.80), row(2, 0.30, 0.93), row(3, 0.15, 0.96), row(4, 0.07, 0.985),
              row(5, 0.05, 0.99), row(6, 0.045, 0.99)]
    slow = [row(1, 2.00, 0.55), row(2, 1.20, 0.78), row(3, 0.60, 0.89), row(4, 0.35, 0.93)]
    return [
        write_run(root / "lr-0.003", fast, config={"lr": 0.003}, test_accuracy=0.9741,
                  elapsed=58.2),
        write_run(root / "lr-0.001", steady, config={"lr": 0.001}, test_accuracy=0.9926,
                  elapsed=61.7),
        write_run(root / "lr-0.0003", slow, config={"lr": 0.0003, "batch_size": 32}),
    ]
