"""A whole run from a RunConfig: the default digits job, its run directory and events."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from core_fixtures import Recorder
from trainui.core.config import RunConfig
from trainui.core.errors import TrainuiError
from trainui.core.events import CheckpointSaved, EvaluationFinished, Failed, Finished, RunStarted
from trainui.core.job import run_training

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Recorder]:
    """The default configuration, exactly as `trainui` runs it, once for this module."""
    run_dir = tmp_path_factory.mktemp("runs") / "default"
    recorder = Recorder()
    run_training(RunConfig(run_dir=str(run_dir)), [recorder])
    return run_dir, recorder


def test_default_run_reaches_95_percent_test_accuracy(
    default_run: tuple[Path, Recorder],
) -> None:
    run_dir, recorder = default_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["accuracy"] >= 0.95
    expected = {"accuracy", "precision", "recall", "f1", "per_class", "confusion_matrix"}
    assert expected <= set(metrics)
    assert set(metrics["per_class"]) == {str(i) for i in range(10)}
    finished = recorder.of(Finished)[-1]
    assert finished.metrics is not None
    assert finished.metrics["accuracy"] == metrics["accuracy"]


def test_default_run_directory_layout(default_run: tuple[Path, Recorder]) -> None:
    run_dir, recorder = default_run
    for name in ("config.json", "checkpoints/best.pt", "checkpoints/last.pt", "metrics.json",
                 "history.csv", "final_model.pt"):
        assert (run_dir / name).is_file(), name
    assert (run_dir.stat().st_mode & 0o777) == 0o700
    config = json.loads((run_dir / "config.json").read_text())
    assert config["dataset"] == "digits" and config["model"] == "cnn"
    rows = list(csv.DictReader((run_dir / "history.csv").open()))
    assert len(rows) == recorder.of(Finished)[-1].epochs_completed
    assert list(rows[0]) == ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr",
                             "epoch_time", "samples_per_second"]


def test_default_run_events(default_run: tuple[Path, Recorder]) -> None:
    _, recorder = default_run
    started = recorder.of(RunStarted)[0]
    assert (started.train_size, started.val_size, started.test_size) == (1257, 270, 270)
    assert started.parameter_count > 0 and started.device == "cpu"
    assert recorder.of(EvaluationFinished)[0].weights.startswith("best")
    assert any(e.reason == "best" for e in recorder.of(CheckpointSaved))
    assert recorder.events[-1] is recorder.of(Finished)[-1]


def test_an_existing_run_is_never_overwritten(default_run: tuple[Path, Recorder]) -> None:
    run_dir, _ = default_run
    before = (run_dir / "checkpoints" / "best.pt").read_bytes()
    recorder = Recorder()
    with pytest.raises(TrainuiError, match="already holds a run"):
        run_training(RunConfig(run_dir=str(run_dir), epochs=1), [recorder])
    assert (run_dir / "checkpoints" / "best.pt").read_bytes() == before
    assert recorder.of(Failed)


def test_bad_config_values_are_refused() -> None:
    for bad in (RunConfig(epochs=0), RunConfig(lr=-1.0), RunConfig(optimizer="lbfgs"),
                RunConfig(amp="fp8"), RunConfig(scheduler="warmup")):
        with pytest.raises(TrainuiError):
            bad.check()


def test_resuming_an_early_stopped_run_does_not_train_on(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    config = RunConfig(model="mlp", epochs=40, patience=0, scheduler="none",
                       run_dir=str(run_dir))
    first = run_training(config)
    assert first.cause == "early_stopping"
    epochs = len(first.history)
    assert epochs < 40
    recorder = Recorder()
    again = run_training(RunConfig(), [recorder], resume=run_dir)
    assert again.cause == "early_stopping" and len(again.history) == epochs
    assert again.metrics is not None and again.metrics["accuracy"] == first.metrics["accuracy"]
