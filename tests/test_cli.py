"""The `trainui` command line end to end: a light `--help`, a real run, `trainui eval`."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

EPOCH_LINE = re.compile(r"^epoch\s+(\d+)/2\s+train loss")

HELP_PROBE = """
import contextlib, io, json, sys
from trainui.tui.cli import build_parser, main

build_parser()
usages = []
for argv in (["--help"], ["train", "--help"], ["eval", "--help"]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            main(argv)
        except SystemExit as exit_:
            assert exit_.code == 0, (argv, exit_.code)
    usages.append(out.getvalue())
torch_modules = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
print(json.dumps({"usages": usages, "torch": torch_modules}))
"""


def test_help_does_not_import_torch():
    """build_parser() and all three --help screens leave torch unimported."""
    probe = subprocess.run([sys.executable, "-c", HELP_PROBE], capture_output=True, text=True,
                           timeout=60)
    assert probe.returncode == 0, probe.stderr
    report = json.loads(probe.stdout)
    assert report["torch"] == []
    top, train, evaluate = report["usages"]
    assert top.startswith("usage: trainui") and "eval" in top
    assert "--epochs" in train and "--checkpoint-every" in train
    assert "checkpoint" in evaluate and "--output" in evaluate


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["eval", "--help"]],
                         ids=["top", "train", "eval"])
def test_help_process_imports_no_torch(argv):
    """The real process, traced with -X importtime, prints usage without importing torch."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "trainui.tui.cli", *argv],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: trainui")
    imported = [line.rpartition("|")[2].strip() for line in result.stderr.splitlines()]
    assert "trainui.core.config" in imported  # the trace is what we think it is
    assert not [name for name in imported if name == "torch" or name.startswith("torch.")]


# --- a real run -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_run(trained_runs):
    """`trainui --headless --epochs 2 --run-dir DIR`: its process result and directory."""
    result, run_dir = trained_runs["default"]
    assert result.returncode == 0, result.stdout + result.stderr
    return result, run_dir


@pytest.mark.slow
def test_headless_run_prints_one_plain_line_per_epoch(default_run):
    result, _ = default_run
    assert "\r" not in result.stdout and "\x1b" not in result.stdout
    epochs = [int(m.group(1)) for m in map(EPOCH_LINE.match, result.stdout.splitlines()) if m]
    assert epochs == [1, 2]
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_run_directory_holds_every_file(default_run):
    _, run_dir = default_run
    for name in ("config.json", "checkpoints/best.pt", "checkpoints/last.pt", "metrics.json",
                 "history.csv", "final_model.pt"):
        assert (run_dir / name).is_file(), name
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["epochs"], config["model"], config["dataset"]) == (2, "cnn", "digits")
    with open(run_dir / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(float(row["epoch"])) for row in rows] == [1, 2]
    assert {"train_loss", "val_loss", "val_acc", "lr"} <= set(rows[0])


@pytest.mark.slow
def test_metrics_json_holds_test_scores(default_run):
    _, run_dir = default_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    scores = {"accuracy", "precision", "recall", "f1", "per_class", "confusion_matrix"}
    assert scores <= set(metrics)
    assert 0.0 <= metrics["accuracy"] <= 1.0
    assert set(metrics["per_class"]) == {str(digit) for digit in range(10)}
    matrix = metrics["confusion_matrix"]
    assert len(matrix) == 10 and all(len(row) == 10 for row in matrix)
    assert sum(map(sum, matrix)) == 270  # the digits test split


@pytest.mark.slow
def test_piped_stdout_means_headless(trained_runs):
    """Without --headless, a piped stdout (stdin a terminal) still gets plain lines, no TUI."""
    result, _ = trained_runs["piped"]
    assert result.returncode == 0, result.stdout + result.stderr
    assert "\r" not in result.stdout and "\x1b" not in result.stdout
    epochs = [int(m.group(1)) for m in map(EPOCH_LINE.match, result.stdout.splitlines()) if m]
    assert epochs == [1, 2]


# --- trainui eval ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def evaluations(default_run, trainui_cli, cli_pool: ThreadPoolExecutor, tmp_path_factory):
    """`trainui eval` on the run's best.pt (with --output) and on its plain final_model.pt."""
    _, run_dir = default_run
    output = tmp_path_factory.mktemp("eval") / "m.json"
    best = cli_pool.submit(trainui_cli, ["eval", run_dir / "checkpoints/best.pt",
                                         "--output", output])
    final = cli_pool.submit(trainui_cli, ["eval", run_dir / "final_model.pt"])
    return {"best": best.result(), "final": final.result(), "output": output}


@pytest.mark.slow
def test_eval_best_checkpoint_matches_the_run(evaluations, default_run):
    """best.pt scores exactly what the run reported for its (restored) best weights."""
    result = evaluations["best"]
    assert result.returncode == 0, result.stderr
    assert "accuracy" in result.stdout and "confusion matrix" in result.stdout
    written = json.loads(Path(evaluations["output"]).read_text())
    reported = json.loads((default_run[1] / "metrics.json").read_text())
    assert written["accuracy"] == pytest.approx(reported["accuracy"])
    assert written["confusion_matrix"] == reported["confusion_matrix"]
    assert reported["weights"] == f"best (epoch {written['epoch']})"


@pytest.mark.slow
def test_eval_plain_state_dict(evaluations):
    """final_model.pt holds only weights: eval takes the model and data from the run's
    config.json beside it."""
    result = evaluations["final"]
    assert result.returncode == 0, result.stderr
    scores = re.search(r"^accuracy (\d{1,3}\.\d\d)%", result.stdout, re.MULTILINE)
    assert scores is not None, result.stdout
    assert 0.0 <= float(scores.group(1)) <= 100.0


@pytest.mark.slow
def test_eval_final_weights_of_a_non_default_model(trained_runs, trainui_cli, tmp_path):
    """The MLP run's final_model.pt evaluates without --model: config.json names it."""
    _, run_dir = trained_runs["piped"]
    output = tmp_path / "metrics.json"
    result = trainui_cli(["eval", run_dir / "final_model.pt", "--output", output])
    assert result.returncode == 0, result.stderr
    assert json.loads(output.read_text())["model"] == "mlp"
