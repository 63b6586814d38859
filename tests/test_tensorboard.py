"""TensorBoard files, live (`--tensorboard`) and exported (`trainui export --tensorboard`),
read back with TensorBoard's own EventAccumulator; `--plots` at the end of a run; the
extras missing."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import textwrap
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import trainui
from trainui.core.event_file import EVENT_LOG, EventLogSink
from trainui.core.events import Progress, RunStarted
from trainui.core.tensorboard import EPOCH_TAGS, STEP_LOSS_TAG, _export_steps

ALL = {"scalars": 0, "histograms": 0, "tensors": 0, "images": 0}
RunTrainui = Callable[..., subprocess.CompletedProcess[str]]


def accumulator(folder: Path) -> EventAccumulator:
    acc = EventAccumulator(str(folder), size_guidance=ALL)
    acc.Reload()
    return acc


def scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    acc = accumulator(folder)
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def history(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "history.csv", newline="") as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, trainui_cli: RunTrainui,
         cli_pool: ThreadPoolExecutor) -> dict[str, Path]:
    """"live": 3 epochs with --tensorboard --plots; "plain": 2 epochs of the MLP, neither."""
    root = tmp_path_factory.mktemp("tensorboard")
    commands = {
        "live": ["--headless", "--epochs", "3", "--tensorboard", "--plots",
                 "--run-dir", root / "live"],
        "plain": ["--headless", "--epochs", "2", "--model", "mlp", "--run-dir", root / "plain"],
    }
    futures = {name: cli_pool.submit(trainui_cli, args) for name, args in commands.items()}
    for name, future in futures.items():
        result = future.result()
        assert result.returncode == 0, (name, result.stderr)
    return {name: root / name for name in commands}


@pytest.mark.slow
def test_live_scalars_equal_history_at_each_epoch(runs: dict[str, Path]) -> None:
    """Loss/train, Loss/val, Accuracy/train, Accuracy/val and LR hold history.csv's values
    at step = epoch; the per-step loss is there at global steps; test metrics at the end."""
    run_dir = runs["live"]
    found = scalars(run_dir / "tensorboard")
    rows = history(run_dir)
    for column, tag in EPOCH_TAGS.items():
        expected = [(int(row["epoch"]), float(row[column])) for row in rows]
        assert [step for step, _ in found[tag]] == [step for step, _ in expected], tag
        for (_, value), (_, want) in zip(found[tag], expected, strict=True):
            assert value == pytest.approx(want, rel=1e-6, abs=1e-6), tag
    steps = [step for step, _ in found[STEP_LOSS_TAG]]
    assert steps == sorted(steps) and len(steps) >= 3 * 5
    assert all(math.isfinite(v) for _, v in found[STEP_LOSS_TAG])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in ("accuracy", "precision", "recall", "f1"):
        assert found[f"Test/{key}"] == [(3, pytest.approx(metrics[key], rel=1e-6))]
    assert not any(tag.startswith(("Metrics/", "Step/")) for tag in found)  # none logged


@pytest.mark.slow
def test_live_histograms_text_and_confusion_image(runs: dict[str, Path]) -> None:
    """Weight and gradient histograms of every parameter for each epoch, the config and
    the results as text, the confusion matrix as an image."""
    acc = accumulator(runs["live"] / "tensorboard")
    tags = acc.Tags()
    weights = [t for t in tags["histograms"] if t.startswith("Weights/")]
    grads = [t for t in tags["histograms"] if t.startswith("Gradients/")]
    state = torch.load(runs["live"] / "final_model.pt", weights_only=True)
    buffers = ("running_mean", "running_var", "num_batches_tracked")
    assert sorted(weights) == sorted(f"Weights/{name}" for name in state
                                     if not name.endswith(buffers))
    assert len(grads) == len(weights)
    for tag in weights + grads:
        events = acc.Histograms(tag)
        assert [e.step for e in events] == [1, 2, 3], tag
        assert events[0].histogram_value.num > 0
    assert {"Config/text_summary", "Test/results/text_summary"} <= set(tags["tensors"])
    text = acc.Tensors("Test/results/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "| precision | recall |" in text and "| true \\ predicted |" in text
    image = acc.Images("Test/confusion_matrix")[0]
    assert image.step == 3 and image.width > 200 and image.height > 200


@pytest.mark.slow
def test_export_gives_the_scalars_the_live_run_wrote(runs: dict[str, Path],
                                                     trainui_cli: RunTrainui,
                                                     tmp_path: Path) -> None:
    """An export of the live run, from its files, has every scalar tag with the same steps
    and values; exporting into a folder that holds TensorBoard files is refused."""
    result = trainui_cli(["export", runs["live"], "--tensorboard", tmp_path / "tb"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "tb")
    live, exported = scalars(runs["live"] / "tensorboard"), scalars(tmp_path / "tb")
    assert live == exported
    again = trainui_cli(["export", runs["live"], "--tensorboard"])
    assert again.returncode == 2
    assert again.stderr.startswith("trainui: error: ") and "holds TensorBoard files" in \
        again.stderr and "Traceback" not in again.stderr


@pytest.mark.slow
def test_export_of_a_run_trained_without_the_flag(runs: dict[str, Path],
                                                  trainui_cli: RunTrainui) -> None:
    """`trainui export RUN --tensorboard` writes RUN/tensorboard; its epoch scalars are
    history.csv's; it holds no histograms (the weights of each epoch are gone)."""
    run_dir = runs["plain"]
    result = trainui_cli(["export", run_dir, "--tensorboard"])
    assert result.returncode == 0, result.stderr
    found = scalars(run_dir / "tensorboard")
    for row in history(run_dir):
        epoch = int(row["epoch"])
        for column, tag in EPOCH_TAGS.items():
            assert dict(found[tag])[epoch] == pytest.approx(float(row[column]), rel=1e-6)
    assert found[STEP_LOSS_TAG] and "Test/accuracy" in found
    assert accumulator(run_dir / "tensorboard").Tags()["histograms"] == []


@pytest.mark.slow
def test_export_again_replaces_its_files_and_checks_every_folder_first(
        runs: dict[str, Path], trainui_cli: RunTrainui, tmp_path: Path) -> None:
    """Exporting again (a run exported while it trained) replaces the earlier export;
    two runs that would share a folder are refused before anything is written."""
    target = tmp_path / "tb"
    for _ in range(2):
        result = trainui_cli(["export", runs["plain"], runs["live"], "--tensorboard", target])
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == [str(target / "plain"), str(target / "live")]
    assert len(list((target / "plain").glob("events.out.tfevents*"))) == 1
    assert scalars(target / "live") == scalars(runs["live"] / "tensorboard")
    twice = trainui_cli(["export", runs["plain"], runs["plain"], "--tensorboard",
                         tmp_path / "twice"])
    assert twice.returncode == 2 and "export them one at a time" in twice.stderr
    assert not (tmp_path / "twice").exists()
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    refused = trainui_cli(["export", runs["plain"], "--tensorboard", blocked / "tb"])
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "cannot write TensorBoard files" in refused.stderr


@pytest.mark.slow
def test_plots_written_when_the_run_ends(runs: dict[str, Path]) -> None:
    """`--plots`: history.png and confusion_matrix.png in the run directory, as PNGs."""
    from PIL import Image

    for name in ("history.png", "confusion_matrix.png"):
        with Image.open(runs["live"] / name) as image:
            assert image.format == "PNG" and image.width > 300 and image.height > 200
    assert not (runs["plain"] / "history.png").exists()


def test_export_of_a_run_of_your_own_code(tmp_path: Path, trainui_cli: RunTrainui) -> None:
    """A run written through trainui.init: its own metrics become Metrics/ and Step/
    scalars, its losses and accuracies the standard tags."""
    run_dir = tmp_path / "run"
    with trainui.init(epochs=2, steps_per_epoch=4, run_dir=run_dir, class_names=["a", "b"],
                      progress_interval=1e-6, handle_signals=False) as run:
        for epoch in range(2):
            for step in range(4):
                run.log({"loss": 1.0 / (1 + epoch * 4 + step), "grad_norm": 2.0 + step})
            run.end_epoch({"val_loss": 0.5 - epoch / 10, "val_f1": 0.7 + epoch / 10})
        run.evaluate([0, 1, 1], torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]]))
    result = trainui_cli(["export", run_dir, "--tensorboard", tmp_path / "tb"])
    assert result.returncode == 0, result.stderr
    found = scalars(tmp_path / "tb")
    assert [s for s, _ in found["Loss/val"]] == [1, 2]
    assert [v for _, v in found["Metrics/val_f1"]] == pytest.approx([0.7, 0.8])
    assert [s for s, _ in found[STEP_LOSS_TAG]] == list(range(1, 9))
    assert found["Step/grad_norm"] and "Accuracy/train" not in found
    assert found["Test/accuracy"] == [(2, pytest.approx(2 / 3))]


def test_export_drops_steps_a_killed_session_logged_after_its_checkpoint(
        tmp_path: Path) -> None:
    """A resumed run's log holds the killed session's steps past the checkpoint it resumed
    from: the export keeps the resumed session's."""
    def started(start_epoch: int) -> RunStarted:
        return RunStarted(run_name="r", run_dir=None, config={}, device="cpu", model_name="m",
                          parameter_count=1, dataset_name="d", train_size=1, val_size=1,
                          test_size=1, class_names=[], epochs=3, steps_per_epoch=10,
                          start_epoch=start_epoch)

    def progress(first: int, last: int, loss: float) -> Progress:
        return Progress(epoch=1, epochs=3, step=1, steps_per_epoch=10, global_step=last,
                        train_loss=loss, train_acc=None, samples_per_second=0.0, lr=None,
                        step_losses=[[s, loss] for s in range(first, last + 1)])

    log = EventLogSink(tmp_path / EVENT_LOG, progress_interval=0.0)
    for event in (started(0), progress(1, 10, 1.0), progress(11, 15, 2.0), started(1),
                  progress(11, 20, 3.0)):
        log(event)
    log.close()
    points = [(step, value) for _, step, value in _export_steps(tmp_path / EVENT_LOG)]
    assert points == [(s, 1.0) for s in range(1, 11)] + [(s, 3.0) for s in range(11, 21)]


HIDE = """
import importlib.abc, sys

class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {hidden!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}")
        return None

sys.meta_path.insert(0, Hide())
"""


@pytest.mark.parametrize(("hidden", "args", "extra"), [
    ("tensorboard", ["--tensorboard", "--epochs", "1"], "tensorboard"),
    ("tensorboard", ["export", ".", "--tensorboard"], "tensorboard"),
    ("matplotlib", ["--plots", "--epochs", "1"], "plots"),
])
def test_without_the_extra_the_option_is_one_clear_line(
        tmp_path: Path, trainui_cli: RunTrainui, hidden: str, args: list[str],
        extra: str) -> None:
    """With the package hidden, the option fails at once (exit 2, nothing written) and
    names the extra to install."""
    (tmp_path / "hide").mkdir()
    (tmp_path / "hide" / "sitecustomize.py").write_text(
        textwrap.dedent(HIDE.format(hidden={hidden})))
    work = tmp_path / "work"
    work.mkdir()
    result = trainui_cli(["--headless", *args] if args[0].startswith("--") else args,
                         pythonpath=tmp_path / "hide", cwd=work)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"pip install 'trainui[{extra}]'" in result.stderr
    assert list(work.iterdir()) == []
