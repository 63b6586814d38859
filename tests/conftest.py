"""Shared fixtures: run the `trainui` command line in fresh Python processes."""

from __future__ import annotations

import contextlib
import os
import pty
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

CLI_TIMEOUT_S = 240

# The test files that take longest (minutes of real training and real processes), longest
# first. They are collected first, so that with `-n auto --dist loadfile` they start at once
# on separate workers and the quick files fill the gaps, instead of one long file starting
# last and running alone.
LONGEST_FIRST = (
    "test_resume.py", "test_resume_options.py", "test_remote_runs.py", "test_bench_smoke.py",
    "test_distributed.py", "test_compare.py",
    "test_ui_terminal_loss.py", "test_tensorboard.py", "test_control_command.py",
    "test_integrations.py", "test_failures.py", "test_cli_errors.py", "test_background_writer.py",
    "test_faults.py", "test_api.py", "test_tooling.py", "test_checkpoint_files.py",
    "test_run_command.py", "test_tui_remote.py", "test_run.py", "test_cli.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest files first (see LONGEST_FIRST); each file's tests keep their order."""
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    order = {id(item): index for index, item in enumerate(items)}
    items.sort(key=lambda item: (rank.get(item.path.name, len(rank)), order[id(item)]))

RunTrainui = Callable[..., subprocess.CompletedProcess[str]]


def run_trainui(
    args: Sequence[object], *, pythonpath: Path | None = None, cwd: Path | None = None,
    stdin: int = subprocess.DEVNULL,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m trainui.tui.cli ARGS` with stdout and stderr piped (so: headless)."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath),
                                                          env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "trainui.tui.cli", *map(str, args)],
        capture_output=True, text=True, stdin=stdin, env=env, cwd=cwd,
        timeout=CLI_TIMEOUT_S,
    )


@pytest.fixture(scope="session")
def trainui_cli() -> RunTrainui:
    """The function that runs the command line in a subprocess; see `run_trainui`."""
    return run_trainui


@pytest.fixture(scope="session")
def cli_pool() -> Iterator[ThreadPoolExecutor]:
    """Threads that run command lines side by side: each one spends seconds importing torch."""
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        yield pool


@pytest.fixture(scope="session")
def trained_runs(
    tmp_path_factory: pytest.TempPathFactory, cli_pool: ThreadPoolExecutor
) -> dict[str, tuple[subprocess.CompletedProcess[str], Path]]:
    """Two short real runs, trained side by side, as (process result, run directory).

    "default": `--headless --epochs 2` (the CNN on digits). "piped": no `--headless`, the MLP,
    `--checkpoint-every 1`, stdin a terminal but stdout a pipe: trainui must go headless itself.
    """
    root = tmp_path_factory.mktemp("trained")
    commands = {
        "default": ["--headless", "--epochs", "2", "--run-dir", root / "default"],
        "piped": ["--epochs", "2", "--model", "mlp", "--checkpoint-every", "1",
                  "--run-dir", root / "piped"],
    }
    terminal, stdin = pty.openpty()
    try:
        futures = {name: cli_pool.submit(run_trainui, args, cwd=root, stdin=stdin)
                   for name, args in commands.items()}
        return {name: (future.result(), root / name) for name, future in futures.items()}
    finally:
        os.close(stdin)
        os.close(terminal)


class Processes:
    """The processes a test starts. At teardown every one still alive is killed, and so is
    any trainer still holding a run directory the test named (a trainer that the live view
    starts runs in its own session, so it outlives its parent by design)."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[Any]] = []
        self.run_dirs: list[Path] = []

    def popen(self, args: Sequence[object], **kwargs: Any) -> subprocess.Popen[Any]:
        """subprocess.Popen, remembered for teardown."""
        process: subprocess.Popen[Any] = subprocess.Popen([str(a) for a in args], **kwargs)
        self.started.append(process)
        return process

    def trainui(self, args: Sequence[object], **kwargs: Any) -> subprocess.Popen[Any]:
        """`python -m trainui.tui.cli ARGS`, remembered for teardown."""
        return self.popen([sys.executable, "-m", "trainui.tui.cli", *args], **kwargs)

    def own_run(self, run_dir: Path) -> Path:
        """Kill whichever process trains `run_dir` at teardown."""
        self.run_dirs.append(run_dir)
        return run_dir

    def close(self) -> None:
        from trainui.core.run_dir import lock_holder

        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.wait()
        for run_dir in self.run_dirs:
            pid = lock_holder(run_dir)
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def processes() -> Iterator[Processes]:
    """Start processes through this; whatever is left running is killed afterwards."""
    tracker = Processes()
    try:
        yield tracker
    finally:
        tracker.close()


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temporary folder other users may enter (pytest's own temporary folders sit in one
    closed to them, which would hide what a test of permissions means to check)."""
    folder = Path(tempfile.mkdtemp(prefix="trainui-test-"))
    try:
        folder.chmod(0o755)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def jobs() -> Iterator[Any]:
    """Replay jobs of TUI tests (tui_fixtures.FakeJob), released after the test so that
    no replay thread is left waiting."""
    held: list[Any] = []
    yield held
    for job in held:
        job.release.set()
