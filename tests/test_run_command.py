"""`trainui run -- COMMAND`: your own training script as the trainer of a run."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import Processes, run_trainui
from test_ui_terminal_loss import Tty
from trainui.core.control_channel import send_request
from trainui.core.event_file import EVENT_LOG, read_events
from trainui.core.events import CheckpointSaved, Finished, Paused, Progress, Resumed
from trainui.core.outcome import RunState
from trainui.core.run_index import list_run

pytestmark = pytest.mark.slow

SCRIPT = """
    import sys, time, torch, trainui

    def save():
        path = run.run_dir / "mine.pt"
        torch.save({"step": run.global_step}, path)
        return path

    print("my script starts")
    run = trainui.init(config={"lr": 0.1}, epochs=int(sys.argv[1]), steps_per_epoch=50,
                       save=save)
    for epoch in range(run.epochs):
        for step in range(50):
            time.sleep(0.01)
            loss = torch.tensor(2.0 / (1 + run.global_step))
            run.log({"loss": loss, "acc": 0.5, "grad_norm": torch.tensor(1.5)})
            if run.stop_requested:
                break
        run.end_epoch({"val_loss": 1.0, "val_acc": 0.6})
        if run.stop_requested:
            break
    run.finish()
"""


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "train.py"
    path.write_text(textwrap.dedent(SCRIPT))
    return path


def events_of(run_dir: Path) -> list:
    return list(read_events(run_dir / EVENT_LOG)) if (run_dir / EVENT_LOG).exists() else []


def wait_for(run_dir: Path, kind: type, timeout: float = 90.0, **fields: object):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in events_of(run_dir):
            if isinstance(event, kind) and all(getattr(event, k) == v
                                               for k, v in fields.items()):
                return event
        time.sleep(0.05)
    raise AssertionError(f"no {kind.__name__} {fields} within {timeout}s")


def wait_until(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {what}")


def test_the_live_view_shows_and_steers_a_script(tmp_path: Path, script: Path,
                                                 processes: Processes) -> None:
    """On a terminal: live charts; pause, resume, save and stop through the control
    channel (as `watch` from another terminal sends them); the script's own output goes
    to output.log."""
    run_dir = processes.own_run(tmp_path / "run")
    tty = Tty("run", "--run-dir", run_dir, "--", sys.executable, script, "100")
    try:
        wait_for(run_dir, Progress)
        wait_until(lambda: tty.drawn() and b"Loss" in tty.output, "the charts drawn")
        send_request(run_dir, "pause")
        paused = wait_for(run_dir, Paused)
        wait_until(lambda: b"PAUSED" in tty.output, "PAUSED on screen")
        send_request(run_dir, "save")
        saved = wait_for(run_dir, CheckpointSaved, reason="requested")
        assert saved.global_step == paused.global_step and Path(saved.path).exists()
        send_request(run_dir, "resume")
        wait_for(run_dir, Resumed)
        wait_until(lambda: len([e for e in events_of(run_dir) if isinstance(e, Progress)
                                and e.global_step > paused.global_step]) > 0, "steps again")
        send_request(run_dir, "stop_now")
        finished = wait_for(run_dir, Finished)
        assert finished.cause == "user" and finished.epochs_completed < 100
        wait_until(lambda: b"FINISHED" in tty.output, "the ended run on screen")
        tty.send(b"q")
        assert tty.gone_within(10) == 0
    finally:
        tty.close()
    assert "my script starts" in (run_dir / "output.log").read_text()
    assert list_run(run_dir).state is RunState.STOPPED


def test_detach_returns_once_the_script_trains(tmp_path: Path, script: Path,
                                               processes: Processes) -> None:
    run_dir = processes.own_run(tmp_path / "run")
    started = run_trainui(["run", "--detach", "--run-dir", run_dir, "--", sys.executable,
                           script, "2"])
    assert started.returncode == 0, started.stderr
    assert f"trainui watch {run_dir}" in started.stdout
    assert wait_for(run_dir, Finished).cause == "completed"
    shown = run_trainui(["watch", run_dir])
    assert shown.returncode == 0 and "epoch 2/2" in shown.stdout
    assert "grad_norm 1.500" in shown.stdout


def test_headless_prints_the_scripts_output_and_trainuis_lines(tmp_path: Path,
                                                               script: Path) -> None:
    root = tmp_path / "runs"
    result = run_trainui(["run", "--root", root, "--", sys.executable, script, "1"])
    assert result.returncode == 0, result.stderr
    assert "my script starts" in result.stdout and "epoch 1/1" in result.stdout
    (run_dir,) = root.iterdir()
    assert run_dir.name.startswith("train-")  # named after the script
    assert list_run(run_dir).state is RunState.FINISHED


@pytest.mark.parametrize("args, fragment", [
    ([], "give the command to run after --"),
    (["--", "no-such-program-here"], "cannot run no-such-program-here: command not found"),
    (["--", "./missing.py"], "cannot run ./missing.py: no such executable file"),
])
def test_a_bad_command_is_one_line_and_leaves_nothing(tmp_path: Path, args: list[str],
                                                      fragment: str) -> None:
    result = run_trainui(["run", "--root", tmp_path / "runs", *args], cwd=tmp_path)
    assert result.returncode == 2 and fragment in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "runs").exists()


def test_a_command_that_never_starts_a_run_is_named(tmp_path: Path) -> None:
    result = run_trainui(["run", "--detach", "--run-dir", tmp_path / "run", "--",
                          sys.executable, "-c", "print('hello')"])
    assert result.returncode == 1
    assert "ended without starting a trainui run" in result.stderr


def test_run_refuses_a_directory_that_is_not_new(tmp_path: Path, script: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = run_trainui(["run", "--run-dir", tmp_path, "--", sys.executable, script, "1"])
    assert result.returncode == 2 and "not empty" in result.stderr
    assert sorted(os.listdir(tmp_path)) == ["notes.txt", "train.py"]


def test_a_lost_terminal_leaves_the_script_training(tmp_path: Path, script: Path,
                                                    processes: Processes) -> None:
    """SSH drops: the view ends at once, the script trains on and finishes its run."""
    run_dir = processes.own_run(tmp_path / "run")
    tty = Tty("run", "--run-dir", run_dir, "--", sys.executable, script, "3")
    try:
        wait_for(run_dir, Progress)
        wait_until(tty.drawn, "the first screen")
        tty.hang_up()
        assert tty.gone_within(5) is not None
        assert wait_for(run_dir, Finished).cause == "completed"
    finally:
        tty.close()
