"""`trainui control RUN_DIR ACTION`: requests to live runs, acknowledged by their trainers."""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import subprocess
import sys
import termios
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from conftest import Processes, run_trainui
from trainui.core.event_file import EVENT_LOG, read_events
from trainui.core.events import (
    CheckpointSaved,
    EpochEnded,
    Event,
    LRChanged,
    Paused,
    Progress,
    Resumed,
    StopRequested,
    TrainingStopped,
)

pytestmark = pytest.mark.slow
TIMEOUT = 120.0

SCRIPT = """
    import time, trainui

    run = trainui.init(config={}, epochs=1000, steps_per_epoch=50)
    for epoch in range(run.epochs):
        for step in range(50):
            time.sleep(0.01)
            run.log({"loss": 1.0 / (1 + run.global_step)})
            if run.stop_requested:
                break
        run.end_epoch({"val_loss": 1.0})
        if run.stop_requested:
            break
    run.finish()
"""
"""A script run that imports no torch, so it starts in a moment."""


def events(run_dir: Path) -> list[Event]:
    path = run_dir / EVENT_LOG
    return list(read_events(path)) if path.exists() else []


def wait_for(condition: Callable[[], object], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def last_step(run_dir: Path) -> int:
    return max((e.global_step for e in events(run_dir) if isinstance(e, Progress)), default=0)


def control(run_dir: Path, *args: object) -> subprocess.CompletedProcess[str]:
    return run_trainui(["control", run_dir, *args])


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("trainui: error: "), result.stderr
    assert result.stdout == ""
    return lines[0]


def start_trainer(processes: Processes, run_dir: Path, log: Path,
                  *flags: str) -> subprocess.Popen[bytes]:
    """A headless built-in trainer with epochs to spare, once it trains."""
    with open(log, "wb") as output:
        process = processes.trainui(
            ["train", "--headless", "--epochs", "200", "--patience", "200", *flags,
             "--run-dir", processes.own_run(run_dir)],
            stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT)
    wait_for(lambda: last_step(run_dir) > 0 or process.poll() is not None, "training steps")
    assert process.poll() is None, log.read_text()
    return process


def test_pause_save_resume_timeout_and_stop_a_trainer(tmp_path: Path,
                                                      processes: Processes) -> None:
    run_dir = tmp_path / "run"
    trainer = start_trainer(processes, run_dir, tmp_path / "trainer.log")

    paused = control(run_dir, "pause")
    assert paused.returncode == 0 and paused.stdout.startswith(f"paused {run_dir} at epoch ")
    assert any(isinstance(e, Paused) for e in events(run_dir)), paused.stderr
    step = last_step(run_dir)
    time.sleep(1.0)
    assert last_step(run_dir) == step  # no step runs while paused

    again = control(run_dir, "pause")
    assert again.returncode == 0 and "already paused" in again.stdout

    saved = control(run_dir, "save")  # taken while paused
    assert saved.returncode == 0, saved.stderr
    path = Path(saved.stdout.strip().rpartition(": ")[2])
    assert path.is_file() and path.name.startswith("saved-step-")
    assert any(isinstance(e, CheckpointSaved) and e.reason == "requested"
               for e in events(run_dir))

    resumed = control(run_dir, "resume")
    assert resumed.returncode == 0 and resumed.stdout.startswith(f"resumed {run_dir}")
    assert any(isinstance(e, Resumed) for e in events(run_dir))
    wait_for(lambda: last_step(run_dir) > step, "steps after resuming")
    running = control(run_dir, "resume")
    assert running.returncode == 0 and "not paused (running)" in running.stdout

    check_timeout_and_ctrl_c(run_dir, trainer.pid)

    stopping = control(run_dir, "stop-after-epoch")
    assert stopping.returncode == 0 and " stops after epoch " in stopping.stdout, stopping.stderr
    assert trainer.wait(timeout=TIMEOUT) == 0
    asked = [e for e in events(run_dir) if isinstance(e, StopRequested)]
    stopped = [e for e in events(run_dir) if isinstance(e, TrainingStopped)]
    assert [e.mode for e in asked] == ["epoch"]
    assert stopped[-1].cause == "user" and "after epoch" in stopped[-1].reason

    dead = control(run_dir, "pause")  # the run is over
    assert dead.returncode == 1
    assert "is not training (stopped)" in one_error_line(dead)


def queued(run_dir: Path) -> int:
    """Bytes of requests in the run's control channel that its trainer has not read."""
    fd = os.open(run_dir / "control", os.O_RDONLY | os.O_NONBLOCK)
    try:
        return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0]
    finally:
        os.close(fd)


def check_timeout_and_ctrl_c(run_dir: Path, pid: int) -> None:
    """A stopped trainer (SIGSTOP) acknowledges nothing: exit 1 after --timeout; Ctrl+C
    while waiting: exit 130, no traceback."""
    os.kill(pid, signal.SIGSTOP)
    try:
        late = control(run_dir, "save", "--timeout", "1")
        assert late.returncode == 1
        line = one_error_line(late)
        assert "did not acknowledge save within 1 s" in line and f"pid {pid}" in line
        sent = queued(run_dir)
        assert sent > 0  # the request waits in the channel for the trainer
        waiting = subprocess.Popen(
            [sys.executable, "-m", "trainui.tui.cli", "control", str(run_dir), "save"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # Its request in the channel: it waits for the acknowledgment now.
            wait_for(lambda: queued(run_dir) > sent, "the second save request", 60)
            time.sleep(0.2)
            waiting.send_signal(signal.SIGINT)
            out, err = waiting.communicate(timeout=30)
        finally:
            if waiting.poll() is None:
                waiting.kill()
                waiting.wait()
        assert waiting.returncode == 130 and "Traceback" not in err and out == ""
    finally:
        os.kill(pid, signal.SIGCONT)


def test_control_of_a_script_run(tmp_path: Path, processes: Processes) -> None:
    """`trainui run` (a script calling trainui.init): pause, resume, stop now."""
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(SCRIPT))
    run_dir = tmp_path / "run"
    process = processes.trainui(
        ["run", "--headless", "--run-dir", processes.own_run(run_dir), "--",
         sys.executable, script], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    wait_for(lambda: last_step(run_dir) > 0 or process.poll() is not None, "steps")
    assert process.poll() is None
    paused = control(run_dir, "pause")
    assert paused.returncode == 0 and paused.stdout.startswith("paused "), paused.stderr
    step = last_step(run_dir)
    resumed = control(run_dir, "resume")
    assert resumed.returncode == 0 and resumed.stdout.startswith("resumed "), resumed.stderr
    wait_for(lambda: last_step(run_dir) > step, "steps after resuming")
    stopped = control(run_dir, "stop")
    assert stopped.returncode == 0 and " stops now, at epoch " in stopped.stdout, stopped.stderr
    assert process.wait(timeout=TIMEOUT) == 0
    assert [e.mode for e in events(run_dir) if isinstance(e, StopRequested)] == ["now"]


def test_the_command_line_offers_every_action() -> None:
    from trainui.core.control_client import ACTIONS
    from trainui.tui.cli import CONTROL_ACTIONS

    assert list(CONTROL_ACTIONS) == list(ACTIONS)


def test_not_a_run_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    for folder in (tmp_path / "plain", tmp_path / "missing"):
        result = control(folder, "pause")
        assert result.returncode == 2
        assert "cannot control" in one_error_line(result)
    bad = control(tmp_path, "pause", "--timeout", "0")
    assert bad.returncode == 2 and "--timeout" in one_error_line(bad)


def test_set_lr_reaches_the_trainer_and_survives_resume(tmp_path: Path,
                                                         processes: Processes) -> None:
    """set-lr: acknowledged with the old and new LR; the next epochs train with it, the
    checkpoint holds it, and a resumed run goes on with it; bad values are bad input."""
    run_dir = tmp_path / "run"
    trainer = start_trainer(processes, run_dir, tmp_path / "trainer.log", "--scheduler", "none")
    for bad in (["set-lr"], ["set-lr", "-1"], ["set-lr", "2000"], ["pause", "0.1"]):
        refused = control(run_dir, *bad)
        assert refused.returncode == 2, (bad, refused.stderr)
        one_error_line(refused)
    changed = control(run_dir, "set-lr", "3e-4")
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.startswith(f"learning rate of {run_dir}: 0.001 -> 0.0003 at epoch ")
    changes = [e for e in events(run_dir) if isinstance(e, LRChanged)]
    assert [(e.new_lr, e.scheduler) for e in changes] == [(3e-4, "user")]
    saved = lambda: [e for e in events(run_dir) if isinstance(e, CheckpointSaved)  # noqa: E731
                     and e.reason == "last" and e.epoch > changes[0].epoch]
    wait_for(saved, "a checkpoint after the change")
    trainer.kill()
    trainer.wait()
    last = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert last["optimizer_state_dict"]["param_groups"][0]["lr"] == 3e-4
    scaled = processes.trainui(["train", "--headless", "--resume", run_dir],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    done = last["epoch"]
    wait_for(lambda: any(isinstance(e, EpochEnded) and e.epoch > done
                         for e in events(run_dir)), "an epoch of the resumed run")
    halved = control(run_dir, "scale-lr", "0.5")
    assert halved.returncode == 0 and "0.0003 -> 0.00015" in halved.stdout, halved.stderr
    scaled.kill()
    scaled.wait()
    resumed = [e for e in events(run_dir) if isinstance(e, EpochEnded) and e.epoch > done]
    assert resumed[0].lr == 3e-4
