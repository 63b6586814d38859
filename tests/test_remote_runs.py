"""Runs outlive terminals: control from another process, signals, SSH drops, watch, runs."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import Processes
from trainui.core.control_channel import send_request
from trainui.core.event_file import read_events
from trainui.core.events import (
    CheckpointSaved,
    Event,
    Finished,
    Paused,
    Progress,
    Resumed,
    RunStarted,
    TrainingStopped,
)

pytestmark = pytest.mark.slow
TIMEOUT = 240.0


def cli(*args: object) -> list[str]:
    return [sys.executable, "-m", "trainui.tui.cli", *map(str, args)]


def events(run_dir: Path) -> list[Event]:
    return list(read_events(run_dir / "events.jsonl"))


def wait_for(condition: Callable[[], object], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def saw(run_dir: Path, kind: type) -> bool:
    return any(isinstance(e, kind) for e in events(run_dir))


def start(processes: Processes, run_dir: Path, *extra: object) -> subprocess.Popen[str]:
    """A headless trainer, ended at the test's end if it still runs."""
    process = processes.popen(cli("--headless", "--run-dir", processes.own_run(run_dir),
                                  *extra),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              stdin=subprocess.DEVNULL)
    wait_for(lambda: saw(run_dir, RunStarted) or process.poll() is not None, "the run to start")
    assert process.poll() is None
    return process


def test_another_process_pauses_saves_and_stops_a_run(tmp_path: Path, processes: Processes) -> None:
    run_dir = tmp_path / "run"
    process = start(processes, run_dir, "--epochs", "200", "--patience", "200")
    send_request(run_dir, "pause")
    wait_for(lambda: saw(run_dir, Paused), "the Paused acknowledgement")
    time.sleep(1.0)
    before = events(run_dir)
    paused_at = [e for e in before if isinstance(e, Paused)][-1]
    time.sleep(1.0)
    after = events(run_dir)
    assert len(after) == len(before)  # nothing happens while paused
    send_request(run_dir, "resume")
    wait_for(lambda: saw(run_dir, Resumed), "the Resumed acknowledgement")
    wait_for(lambda: any(isinstance(e, Progress) and e.global_step > paused_at.global_step
                         for e in events(run_dir)), "steps after resuming")
    second = subprocess.run(cli("train", "--headless", "--resume", run_dir),
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert second.returncode == 2 and "being trained by another process" in second.stderr
    send_request(run_dir, "save")
    wait_for(lambda: any(isinstance(e, CheckpointSaved) and e.reason == "requested"
                         for e in events(run_dir)), "the requested checkpoint")
    send_request(run_dir, "stop_now")
    process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0
    stopped = [e for e in events(run_dir) if isinstance(e, TrainingStopped)]
    assert stopped and stopped[0].cause == "user"
    assert (run_dir / "metrics.json").exists()
    assert not (run_dir / "control").exists()  # the channel goes away with its trainer


def test_sigterm_stops_gracefully_with_the_conventional_code(tmp_path: Path,
                                                            processes: Processes) -> None:
    run_dir = tmp_path / "run"
    process = start(processes, run_dir, "--epochs", "200", "--patience", "200")
    wait_for(lambda: saw(run_dir, Progress), "training steps")
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 128 + signal.SIGTERM, err
    assert list((run_dir / "checkpoints").glob("saved-step-*.pt"))
    assert json.loads((run_dir / "metrics.json").read_text())["accuracy"] >= 0
    assert "Traceback" not in out + err


def test_runs_and_watch_of_finished_and_interrupted_runs(tmp_path: Path,
                                                        processes: Processes) -> None:
    finished, killed = tmp_path / "finished", tmp_path / "killed"
    assert subprocess.run(cli("--headless", "--epochs", "1", "--run-dir", finished),
                          capture_output=True, timeout=TIMEOUT).returncode == 0
    process = start(processes, killed, "--epochs", "200")
    process.kill()
    process.communicate(timeout=TIMEOUT)
    listing = subprocess.run(cli("runs", "--root", tmp_path), capture_output=True, text=True,
                             timeout=TIMEOUT)
    lines = {line.split()[0]: line for line in listing.stdout.splitlines()[1:]}
    assert " finished " in lines[str(finished)] and " 1/1 " in lines[str(finished)]
    assert " interrupted " in lines[str(killed)]
    shown = subprocess.run(cli("watch", finished), capture_output=True, text=True,
                           timeout=TIMEOUT)
    assert shown.returncode == 0 and "test (best" in shown.stdout
    shown = subprocess.run(cli("watch", "--root", tmp_path), capture_output=True, text=True,
                           timeout=TIMEOUT)  # the most recent run: the killed one
    assert "failed: run interrupted" in shown.stdout and "--resume" in shown.stdout


def test_watch_and_runs_errors_are_one_line(tmp_path: Path) -> None:
    for args in (("watch", tmp_path / "nope"), ("watch", "--root", tmp_path),
                 ("watch", tmp_path)):
        result = subprocess.run(cli(*args), capture_output=True, text=True, timeout=TIMEOUT)
        assert result.returncode == 2
        assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr


def test_detach_trains_in_the_background(tmp_path: Path, processes: Processes) -> None:
    run_dir = processes.own_run(tmp_path / "run")
    result = subprocess.run(cli("train", "--detach", "--epochs", "2", "--run-dir", run_dir),
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert str(run_dir) in result.stdout and f"trainui watch {run_dir}" in result.stdout
    wait_for(lambda: saw(run_dir, Finished), "the detached run to finish")
    assert (run_dir / "metrics.json").exists()
    assert (run_dir.stat().st_mode & 0o777) == 0o700


def test_ssh_drop_lets_training_finish_headless(tmp_path: Path, processes: Processes) -> None:
    """The TUI's terminal hangs up mid-run: training goes on to the end."""
    run_dir = processes.own_run(tmp_path / "run")
    pid, master = pty.fork()
    if pid == 0:  # the child: a session leader whose controlling terminal is the pty
        os.environ.update(TERM="xterm-256color", COLUMNS="120", LINES="40")
        os.execv(sys.executable, cli("--epochs", "3", "--run-dir", run_dir))
    try:
        def drain() -> None:
            try:
                os.read(master, 65536)
            except OSError:
                pass

        deadline = time.monotonic() + TIMEOUT
        while not saw(run_dir, Progress):
            assert time.monotonic() < deadline
            drain()
        os.close(master)  # the SSH connection drops: the terminal hangs up
        master = -1
        wait_for(lambda: os.waitpid(pid, os.WNOHANG)[0] != 0, "trainui to exit")
    finally:
        if master >= 0:
            os.close(master)
        with contextlib.suppress(ChildProcessError):  # not reaped yet: end it
            if os.waitpid(pid, os.WNOHANG)[0] == 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
    # The trainer (in its own session) finishes the run whoever waits for it.
    wait_for(lambda: saw(run_dir, Finished), "training to finish")
    finished = [e for e in events(run_dir) if isinstance(e, Finished)]
    assert finished and finished[0].epochs_completed == 3
    assert (run_dir / "metrics.json").exists()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to act as another user")
def test_run_directory_is_closed_to_other_users(shared_tmp: Path) -> None:
    run_dir = shared_tmp / "run"
    assert subprocess.run(cli("--headless", "--epochs", "1", "--run-dir", run_dir),
                          capture_output=True, timeout=TIMEOUT).returncode == 0
    peek = subprocess.run(["/bin/cat", str(run_dir / "events.jsonl")], user=65534,
                          capture_output=True, text=True, timeout=30)
    assert peek.returncode != 0 and "Permission denied" in peek.stderr


def test_a_closed_stdout_does_not_stop_training(tmp_path: Path, processes: Processes) -> None:
    run_dir = tmp_path / "run"
    process = processes.popen(cli("--headless", "--epochs", "2", "--run-dir", run_dir),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL)
    assert process.stdout is not None
    process.stdout.readline()
    process.stdout.close()  # like `trainui ... | head -1`
    process.wait(timeout=TIMEOUT)
    assert process.returncode == 0
    assert (run_dir / "metrics.json").exists()
