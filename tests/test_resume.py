"""Exact resume after kill -9, at chosen moments and at random ones (real processes)."""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from trainui.core.checkpoint import load_checkpoint

FLAGS = ["--headless", "--epochs", "4", "--patience", "10", "--seed", "7",
         "--checkpoint-every", "2"]
pytestmark = pytest.mark.slow
COMPARED = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr")

# Imported by every Python process started with this folder on PYTHONPATH: it kills the
# process (SIGKILL, no cleanup) right before the Nth rename onto a file of a given name,
# that is after the temporary file is written and before it replaces the old one.
KILL_HOOK = '''
import os, signal
spec = os.environ.get("TRAINUI_TEST_KILL_BEFORE_RENAME")
if spec:
    name, nth = spec.rsplit(":", 1)
    seen = [0]
    real_replace = os.replace
    def replace(src, dst, *args, **kwargs):
        if os.path.basename(str(dst)) == name:
            seen[0] += 1
            if seen[0] == int(nth):
                os.kill(os.getpid(), signal.SIGKILL)
        return real_replace(src, dst, *args, **kwargs)
    os.replace = replace
'''


def trainui(args: list[object], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "trainui.tui.cli", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})


def finish(process: subprocess.Popen[str]) -> int:
    """Wait for the process; one that takes too long is killed, never left behind."""
    try:
        process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode


def history(run_dir: Path) -> list[tuple[str, ...]]:
    with (run_dir / "history.csv").open() as handle:
        return [tuple(row[k] for k in COMPARED) for row in csv.DictReader(handle)]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)


def assert_same_run(run_dir: Path, reference: Path) -> None:
    assert history(run_dir) == history(reference)
    ours, theirs = weights(run_dir / "final_model.pt"), weights(reference / "final_model.pt")
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert torch.equal(ours[key], theirs[key]), key  # bit for bit


@pytest.fixture(scope="module")
def hook_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hook")
    (folder / "sitecustomize.py").write_text(KILL_HOOK)
    return folder


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same run, never interrupted."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    assert finish(trainui([*FLAGS, "--run-dir", run_dir])) == 0
    return run_dir


def kill_then_resume(run_dir: Path, hook_dir: Path, kill_before: str) -> None:
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(hook_dir),
                                                       os.environ.get("PYTHONPATH")])),
           "TRAINUI_TEST_KILL_BEFORE_RENAME": kill_before}
    assert finish(trainui([*FLAGS, "--run-dir", run_dir], env)) == -signal.SIGKILL
    assert finish(trainui(["train", "--headless", "--resume", run_dir])) == 0


@pytest.mark.parametrize("kill_before", [
    "history.csv:1",   # end of epoch 1, before any checkpoint exists
    "last.pt:2",       # while writing epoch 2's last.pt (temp file complete, not renamed)
    "epoch-002.pt:1",  # between epoch 2's best.pt and its last.pt
    "last.pt:4",       # the final epoch's checkpoint
])
def test_killed_and_resumed_run_matches_an_uninterrupted_one(
    tmp_path: Path, hook_dir: Path, reference: Path, kill_before: str
) -> None:
    run_dir = tmp_path / "run"
    kill_then_resume(run_dir, hook_dir, kill_before)
    assert_same_run(run_dir, reference)


def test_kill_mid_epoch_from_outside(tmp_path: Path, reference: Path) -> None:
    run_dir = tmp_path / "run"
    process = trainui([*FLAGS, "--run-dir", run_dir])
    try:
        deadline = time.monotonic() + 240
        while not (run_dir / "checkpoints" / "epoch-002.pt").exists():
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        finish(process)
    assert finish(trainui(["train", "--headless", "--resume", run_dir])) == 0
    assert_same_run(run_dir, reference)


def test_random_kills_never_leave_a_corrupt_checkpoint(tmp_path: Path) -> None:
    """kill -9 at five moments drawn (from a fixed seed) in units of the run's own progress,
    not of wall time, so a slow machine kills at the same points of the run."""
    run_dir = tmp_path / "run"
    chance = random.Random(20261127)
    args: list[object] = ["--headless", "--epochs", "40", "--patience", "40",
                          "--checkpoint-every", "1", "--run-dir", run_dir]
    events = run_dir / "events.jsonl"

    def logged() -> int:
        return len(events.read_bytes().splitlines()) if events.exists() else 0

    loaded = 0
    for _ in range(5):
        target = logged() + chance.randint(1, 60)
        process = trainui(args)
        try:
            while process.poll() is None and logged() < target:
                time.sleep(0.01)
        finally:
            process.send_signal(signal.SIGKILL)
            finish(process)
        for path in sorted((run_dir / "checkpoints").glob("*.pt")):
            payload = load_checkpoint(path)  # raises on a corrupt or partial file
            assert "model_state_dict" in payload
            loaded += 1
        args = ["train", "--headless", "--resume", run_dir]
    assert loaded > 0
