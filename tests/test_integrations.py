"""Lightning and Hugging Face Trainer runs on trainui: shown by `watch` (confusion matrix
included) and steered from another process (pause, save, stop).

Each framework trains in a process of its own, as a user runs it: the example scripts in
examples/, started by `trainui run`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from conftest import CLI_TIMEOUT_S, run_trainui
from trainui.core.control_channel import send_request
from trainui.core.event_file import EVENT_LOG, read_events
from trainui.core.events import (
    CheckpointSaved,
    EarlyStoppingUpdated,
    EpochEnded,
    Finished,
    Paused,
    Progress,
    Resumed,
    RunStarted,
)
from trainui.core.outcome import RunState
from trainui.core.run_dir import is_locked
from trainui.core.run_index import list_run

pytest.importorskip("lightning")
pytest.importorskip("transformers")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = {"lightning": EXAMPLES / "lightning_digits.py", "hf": EXAMPLES / "hf_digits.py"}
pytestmark = pytest.mark.slow


def events_of(run_dir: Path) -> list:
    return list(read_events(run_dir / EVENT_LOG)) if (run_dir / EVENT_LOG).exists() else []


def of(events: list, kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def wait_for(run_dir: Path, kind: type, timeout: float = 120.0, **fields: object):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in of(events_of(run_dir), kind):
            if all(getattr(event, k) == v for k, v in fields.items()):
                return event
        time.sleep(0.05)
    raise AssertionError(f"no {kind.__name__} {fields} within {timeout}s")


PROBE = Path(__file__).parent / "scripts" / "sync_probe.py"


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict[str, int]]]:
    """A 2-epoch fit of each framework on digits, run by `trainui run` (headless), under
    tests/scripts/sync_probe.py, which counts the host reads of tensors trainui causes:
    (run directory, counts by trainui function)."""
    runs: dict[str, Path] = {}
    processes = {}
    for name, script in SCRIPTS.items():
        folder = tmp_path_factory.mktemp(name)
        runs[name] = folder / "run"
        processes[name] = subprocess.Popen(
            [sys.executable, "-m", "trainui", "run", "--run-dir", str(runs[name]), "--",
             sys.executable, str(PROBE), str(script), "--epochs", "2"],
            cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    fits = {}
    for name, process in processes.items():
        output, errors = process.communicate(timeout=CLI_TIMEOUT_S)
        assert process.returncode == 0, output + errors[-3000:]
        assert "epoch 2/2" in output  # trainui's own lines, with the script's
        fits[name] = (runs[name], json.loads(output.strip().splitlines()[-1]))
    return fits


@pytest.mark.parametrize("framework", list(SCRIPTS))
def test_a_two_epoch_fit_writes_a_whole_trainui_run(fitted: dict[str, tuple[Path, dict]],
                                                    framework: str) -> None:
    run_dir, _ = fitted[framework]
    events = events_of(run_dir)
    started = of(events, RunStarted)[0]
    assert started.model_name == "DigitsMLP" and started.parameter_count == 9610
    assert started.epochs == 2 and started.steps_per_epoch == 22
    steps = [step for p in of(events, Progress) for step, _ in p.step_losses]
    assert steps and steps[-1] == 44 and steps == sorted(steps)
    epochs = of(events, EpochEnded)
    assert [e.epoch for e in epochs] == [1, 2]
    assert all(e.val_loss is not None and 0 < e.val_acc <= 1 and e.lr for e in epochs)
    assert of(events, EarlyStoppingUpdated)[-1].patience in (3, 5)
    best = [s for s in of(events, CheckpointSaved) if s.reason == "best"]
    assert best and os.path.exists(best[-1].path)  # (save_top_k=1 removed older ones)
    finished = of(events, Finished)[-1]
    assert finished.cause == "completed" and finished.epochs_completed == 2
    matrix = finished.confusion_matrix
    assert len(matrix) == 10 and sum(map(sum, matrix)) == 397
    assert finished.metrics["accuracy"] > 0.5
    assert list_run(run_dir).state is RunState.FINISHED
    header = (run_dir / "history.csv").read_text().splitlines()[0]
    assert header.startswith("epoch,train_loss,train_acc,val_loss,val_acc,lr")


@pytest.mark.parametrize("framework", list(SCRIPTS))
def test_watch_shows_the_fit_with_its_confusion_matrix(fitted: dict[str, tuple[Path, dict]],
                                                       framework: str) -> None:
    """Headless `trainui watch` prints the run; the view's final report has the matrix."""
    import asyncio

    from textual.widgets import Static

    from trainui.core.control import Control
    from trainui.tui.app import TrainApp
    from trainui.tui.final_report import FinalReport
    from trainui.tui.watch import follow

    run_dir, _ = fitted[framework]
    shown = run_trainui(["watch", run_dir])
    assert shown.returncode == 0, shown.stderr
    assert "epoch 2/2" in shown.stdout and "397 samples" in shown.stdout

    async def look() -> str:
        app = TrainApp(lambda feed: follow(run_dir, feed, restore=feed.restore), Control(),
                       watching=True)
        async with app.run_test(size=(120, 40)) as pilot:
            for _ in range(4):
                await pilot.pause()
            app.flush_panels()
            await pilot.pause()
            assert app.outcome == 0
            matrix = app.query_one(FinalReport).query_one("#matrix", Static).content
            console = Console(width=120, record=True)
            console.print(matrix)
            return console.export_text()

    lines = asyncio.run(look()).splitlines()
    assert lines[0].strip() == "Confusion (true x pred, counts)"
    matrix = of(events_of(run_dir), Finished)[-1].confusion_matrix
    for label in range(10):  # a row per class: its name, then its counts ('.' for 0)
        row = lines[2 + label].split()
        assert row == [str(label), *(str(n) if n else "." for n in matrix[label])]


@pytest.mark.parametrize("framework", list(SCRIPTS))
def test_a_second_process_pauses_saves_and_stops_the_fit(tmp_path: Path,
                                                         framework: str) -> None:
    """`trainui run --detach`, then pause, save and stop through the control channel, as
    `trainui watch` sends them."""
    run_dir = tmp_path / "run"
    started = run_trainui(["run", "--detach", "--run-dir", run_dir, "--", sys.executable,
                           SCRIPTS[framework], "--epochs", "400", "--patience", "1000"],
                          cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    try:
        send_request(run_dir, "pause")
        paused = wait_for(run_dir, Paused)
        time.sleep(0.5)
        last = of(events_of(run_dir), Progress)[-1]
        assert last.global_step == paused.global_step  # no step while paused
        send_request(run_dir, "save")  # saved at once, while paused
        saved = wait_for(run_dir, CheckpointSaved, reason="requested")
        assert saved.global_step == paused.global_step and os.path.exists(saved.path)
        time.sleep(0.5)
        assert of(events_of(run_dir), Progress)[-1].global_step == paused.global_step
        assert not of(events_of(run_dir), Resumed)  # still paused after saving
        send_request(run_dir, "resume")
        wait_for(run_dir, Resumed)
        send_request(run_dir, "stop_now")
        finished = wait_for(run_dir, Finished)
        assert finished.cause == "user" and finished.epochs_completed < 400
    finally:
        deadline = time.monotonic() + 60
        while is_locked(run_dir) and time.monotonic() < deadline:
            time.sleep(0.1)
        _kill_holder(run_dir)
    assert list_run(run_dir).state is RunState.STOPPED


def _kill_holder(run_dir: Path) -> None:
    """The detached trainer, if it is still there (it should have ended)."""
    from trainui.core.run_dir import lock_holder

    pid = lock_holder(run_dir)
    if pid is not None:
        os.kill(pid, 9)


@pytest.mark.parametrize("framework", list(SCRIPTS))
def test_the_callback_reads_no_tensor_per_step(fitted: dict[str, tuple[Path, dict]],
                                               framework: str) -> None:
    """Every host-device read trainui caused during the 2-epoch fit (44 steps), counted by
    its trainui function: step values are read together at throttle points, the rest once
    per epoch or at the end, never once per step."""
    counts = dict(fitted[framework][1])
    steps, epochs = 44, 2
    throttled = counts.pop("api.read", 0)
    assert epochs <= throttled <= steps // 2  # one per epoch end at least, far fewer than steps
    at_the_end = {name: counts.pop(name) for name in list(counts)
                  if name in ("_common.predict_split", "api._labels")}
    assert sum(at_the_end.values()) <= 8
    assert sum(counts.values()) <= 8 * epochs, counts  # per-epoch reports (monitors, saves)
