"""Faults met by real trainer processes: folders that are not ours, workers of a killed
trainer, a flooded or stale control channel. The bad-input cases that end before training
are in test_cli_errors.py."""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from trainui.core.control_channel import send_request
from trainui.core.event_file import read_events
from trainui.core.events import Event, Paused, RunStarted

TIMEOUT = 240.0

STUCK_DATA = '''
import os, pathlib, time
import torch
from torch.utils.data import Dataset, TensorDataset


class Stuck(Dataset):
    """Items past the first batch hang for ten minutes, once their worker has said who it is."""

    def __init__(self, folder):
        self.folder = folder

    def __len__(self):
        return 256

    def __getitem__(self, index):
        if index >= 32:
            pathlib.Path(self.folder, f"worker-{os.getpid()}").touch()
            time.sleep(600)
        return torch.zeros(4), index % 3


def stuck(data_dir, seed):
    small = TensorDataset(torch.zeros(8, 4), torch.zeros(8, dtype=torch.long))
    return Stuck(data_dir), small, small, ["a", "b", "c"]
'''


def cli(*args: object) -> list[str]:
    return [sys.executable, "-m", "trainui.tui.cli", *map(str, args)]


def events(run_dir: Path) -> list[Event]:
    return list(read_events(run_dir / "events.jsonl"))


def count(run_dir: Path, kind: type) -> int:
    return sum(isinstance(e, kind) for e in events(run_dir))


def wait_for(condition: Callable[[], object], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie nobody reaped yet counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow
def test_an_empty_open_folder_takes_a_run_and_keeps_its_mode(tmp_path: Path) -> None:
    """`mkdir x && chmod 1777 x`: a run may go in, the folder's mode stays 1777, and what
    trainui writes there is owner-only."""
    folder = tmp_path / "x"
    folder.mkdir()
    folder.chmod(0o1777)
    result = subprocess.run(cli("--headless", "--epochs", "1", "--model", "mlp",
                                "--run-dir", folder), capture_output=True, text=True,
                            timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(folder.stat().st_mode) == 0o1777
    for name in (".trainui-run", "config.json", "events.jsonl", "metrics.json"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name


@pytest.mark.slow
def test_workers_die_with_their_trainer(tmp_path: Path, processes) -> None:  # type: ignore[no-untyped-def]
    """kill -9 of a trainer takes its DataLoader workers with it, even workers busy in a
    long read that would never look at their parent."""
    (tmp_path / "trainui_test_stuck.py").write_text(textwrap.dedent(STUCK_DATA))
    pids = tmp_path / "pids"
    pids.mkdir()
    run_dir = processes.own_run(tmp_path / "run")
    trainer = processes.trainui(
        ["--headless", "--epochs", "1", "--dataset", "trainui_test_stuck:stuck",
         "--data-dir", pids, "--model", "mlp", "--batch-size", "32", "--num-workers", "2",
         "--run-dir", run_dir],
        env={**os.environ, "PYTHONPATH": str(tmp_path)}, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        wait_for(lambda: len(list(pids.iterdir())) == 2 or trainer.poll() is not None,
                 "both workers to be busy")
        workers = [int(path.name.removeprefix("worker-")) for path in pids.iterdir()]
        assert trainer.poll() is None and len(workers) == 2
        trainer.kill()
        trainer.wait()
        wait_for(lambda: not any(map(alive, workers)), "the workers to die", timeout=10)
    finally:
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_control_survives_a_flood_and_a_stale_file(tmp_path: Path, processes) -> None:  # type: ignore[no-untyped-def]
    """A 20 MB garbage line, then half a line, then `pause` from the shell: the run pauses.
    After it stops, `echo pause > RUN/control` leaves a regular file; a resumed trainer
    replaces it with its channel, and requests reach it again."""
    run_dir = processes.own_run(tmp_path / "run")
    train = ["--headless", "--epochs", "10000", "--patience", "10000", "--model", "mlp",
             "--scheduler", "none", "--run-dir", run_dir]
    first = processes.trainui(train, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    wait_for(lambda: count(run_dir, RunStarted) == 1 or first.poll() is not None, "the run")
    channel = run_dir / "control"
    flood = (f"head -c 20000000 /dev/zero | tr '\\0' x > {channel}; "
             f"printf 'half a line' > {channel}; echo pause > {channel}")
    subprocess.run(["/bin/sh", "-c", flood], check=True, timeout=TIMEOUT)
    wait_for(lambda: count(run_dir, Paused) == 1, "the pause after the flood")
    send_request(run_dir, "stop_now")
    assert first.wait(timeout=TIMEOUT) == 0
    assert not channel.exists()

    subprocess.run(["/bin/sh", "-c", f"echo pause > {channel}"], check=True, timeout=30)
    assert stat.S_ISREG(channel.lstat().st_mode)
    second = processes.trainui(["train", "--headless", "--resume", run_dir],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    wait_for(lambda: count(run_dir, RunStarted) == 2 or second.poll() is not None, "the resume")
    assert stat.S_ISFIFO(channel.lstat().st_mode)
    send_request(run_dir, "pause")
    wait_for(lambda: count(run_dir, Paused) == 2, "the pause after resuming")
    send_request(run_dir, "stop_now")
    assert second.wait(timeout=TIMEOUT) == 0
