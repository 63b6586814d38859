"""A run that fails says so everywhere: its exit status, --detach, runs, watch, error.log.

Real processes throughout: a model factory that raises mid-epoch, a file system that fills
up (a small tmpfs, where the machine lets the test mount one), a start-up error on the live
view's own screen.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Processes, run_trainui
from other_user import NOBODY, preload_trainui
from trainui.core.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow

EXPLODING = '''
from torch import nn


class Exploding(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.linear = nn.Linear(64, classes)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls == 5:
            raise RuntimeError("exploded at call 5")
        return self.linear(x.flatten(1))


def build(input_shape, num_classes):
    return Exploding(num_classes)
'''


@pytest.fixture
def exploding(tmp_path: Path) -> Path:
    """A folder whose module `exploding` holds a model that raises on its 5th call."""
    (tmp_path / "exploding.py").write_text(EXPLODING)
    return tmp_path


def kinds(run_dir: Path) -> list[str]:
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    return [json.loads(line)["kind"] for line in lines]


def test_a_run_that_raises_is_failed_everywhere(exploding: Path) -> None:
    """--detach waits long enough to see it fail; runs and watch say failed, with why."""
    run_dir = exploding / "runs" / "boom"
    detach = run_trainui(["train", "--detach", "--model", "exploding:build", "--epochs", "1",
                          "--run-dir", run_dir], cwd=exploding)
    assert detach.returncode == 1, detach.stderr
    assert detach.stderr.startswith("trainui: error: RuntimeError: exploded at call 5")
    assert len(detach.stderr.splitlines()) == 1
    assert kinds(run_dir)[-1] == "failed"
    assert "Traceback" in (run_dir / "error.log").read_text()
    listed = run_trainui(["runs", "--root", run_dir.parent])
    assert " failed " in listed.stdout.splitlines()[1]
    watched = run_trainui(["watch", run_dir])
    assert watched.returncode == 1
    assert "failed: RuntimeError: exploded at call 5" in watched.stdout
    headless = run_trainui(["train", "--headless", "--model", "exploding:build", "--epochs",
                            "1", "--run-dir", exploding / "runs" / "again"], cwd=exploding)
    assert headless.returncode == 1
    assert headless.stderr.strip().endswith("error.log)")  # where the traceback is


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1.5 MB file system, mounted for the test (root only, where mounts are allowed)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1536k", "tmpfs",
                              str(mount_point)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_fails_the_run_and_says_so(small_disk: Path) -> None:
    """Checkpoints of the MLP fill the disk after a few epochs: the run ends with exit 1
    and a line that says the disk is full; every checkpoint already written still loads."""
    run_dir = small_disk / "run"
    result = run_trainui(["train", "--headless", "--model", "mlp", "--epochs", "30",
                          "--patience", "30", "--checkpoint-every", "1", "--run-dir", run_dir])
    assert result.returncode == 1, result.stderr
    assert "disk full" in result.stderr and "no space left on device" in result.stderr
    assert "Traceback" not in result.stderr
    checkpoints = sorted((run_dir / "checkpoints").glob("*.pt"))
    assert checkpoints
    for path in checkpoints:
        assert "model_state_dict" in load_checkpoint(path)
    assert not list((run_dir / "checkpoints").glob(".*.tmp"))  # no partial file left
    listed = run_trainui(["runs", "--root", small_disk])
    assert " failed " in listed.stdout.splitlines()[1]


def test_a_start_up_error_shows_on_the_live_screen(tmp_path: Path,
                                                    processes: Processes) -> None:
    """Bad input the trainer finds (MNIST without its data) is shown by the view, which
    then exits with status 2 and leaves no run directory behind."""
    run_dir = processes.own_run(tmp_path / "run")
    pid, master = pty.fork()
    if pid == 0:
        os.environ.update(TERM="xterm-256color", COLUMNS="100", LINES="30")
        os.execv(sys.executable, [sys.executable, "-m", "trainui.tui.cli", "train",
                                  "--dataset", "mnist", "--run-dir", str(run_dir)])
    screen = b""
    try:
        deadline = time.monotonic() + 120
        while b"needs a data directory" not in screen:
            assert time.monotonic() < deadline, screen[-2000:]
            if select.select([master], [], [], 0.1)[0]:
                screen += os.read(master, 65536)
        assert b"STARTING" in screen and b"FAILED" in screen
        os.write(master, b"q")
        deadline = time.monotonic() + 30
        while (done := os.waitpid(pid, os.WNOHANG))[0] == 0:
            assert time.monotonic() < deadline
            if select.select([master], [], [], 0.1)[0]:
                try:
                    screen += os.read(master, 65536)
                except OSError:
                    pass
        assert os.waitstatus_to_exitcode(done[1]) == 2
        assert not run_dir.exists()
    finally:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(master)


def test_an_absurd_refresh_rate_still_draws_and_quits(tmp_path: Path) -> None:
    """--refresh-rate 1e9 is capped to what a terminal can show: the view draws the run,
    and q ends it."""
    run_dir = tmp_path / "run"
    assert run_trainui(["train", "--headless", "--model", "mlp", "--epochs", "1",
                        "--run-dir", run_dir]).returncode == 0
    pid, master = pty.fork()
    if pid == 0:
        os.environ.update(TERM="xterm-256color", COLUMNS="100", LINES="30")
        os.execv(sys.executable, [sys.executable, "-m", "trainui.tui.cli", "watch",
                                  str(run_dir), "--refresh-rate", "1e9"])
    screen = b""
    try:
        deadline = time.monotonic() + 60
        while b"FINISHED" not in screen:
            assert time.monotonic() < deadline, screen[-2000:]
            if select.select([master], [], [], 0.1)[0]:
                screen += os.read(master, 65536)
        os.write(master, b"q")
        deadline = time.monotonic() + 10
        while (done := os.waitpid(pid, os.WNOHANG))[0] == 0:
            assert time.monotonic() < deadline, "q did not end the view"
            if select.select([master], [], [], 0.1)[0]:
                try:
                    os.read(master, 65536)
                except OSError:
                    pass
        assert os.waitstatus_to_exitcode(done[1]) == 0
    finally:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(master)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_runs_skips_a_folder_it_cannot_read_with_a_note(shared_tmp: Path) -> None:
    """Another user's run (mode 0700) among readable ones: listed are the readable ones,
    the other is named on stderr; the listing does not fail."""
    root = shared_tmp / "runs"
    root.mkdir(mode=0o755)
    mine = root / "mine"
    assert run_trainui(["train", "--headless", "--model", "mlp", "--epochs", "1",
                        "--run-dir", mine]).returncode == 0
    closed = root / "closed"
    closed.mkdir(mode=0o700)
    (closed / ".trainui-run").write_text("{}")
    os.chown(mine, NOBODY, NOBODY)
    for path in mine.rglob("*"):
        os.chown(path, NOBODY, NOBODY)
    code, out, err = as_another_user(["runs", "--root", str(root)], shared_tmp)
    assert code == 0, err
    assert str(mine) in out and " finished " in out
    assert err == f"trainui: note: skipped {closed}: permission denied\n"


def as_another_user(argv: list[str], scratch: Path) -> tuple[int, str, str]:
    """`trainui ARGV` as uid NOBODY, in a fork of this process (that user cannot start
    this interpreter from its folder): exit status, stdout, stderr."""
    out, err = scratch / "out.txt", scratch / "err.txt"
    for path in (out, err):
        path.write_text("")
    pid = os.fork()
    if pid == 0:
        try:
            for fd, path in ((1, out), (2, err)):
                os.dup2(os.open(path, os.O_WRONLY | os.O_TRUNC), fd)
            # pytest captures sys.stdout and sys.stderr: write to the files instead.
            sys.stdout = open(1, "w", closefd=False)
            sys.stderr = open(2, "w", closefd=False)
            preload_trainui()
            from trainui.tui.cli import main

            os.setgid(NOBODY)
            os.setuid(NOBODY)
            code = main(argv)
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:  # the child must never return into pytest
            import traceback

            traceback.print_exc()
            code = 99
        os._exit(code)
    status = os.waitpid(pid, 0)[1]
    return os.waitstatus_to_exitcode(status), out.read_text(), err.read_text()
