"""Start a trainer in a process of its own session, for the live view and `--detach`.

The parent prepares the run directory (marker and config.json: the config crosses the
process boundary as the file the trainer reads and checks), then starts
`python -m trainui.core.trainer_process RUN_DIR`. A new session means the terminal's
hang-up and Ctrl+C never reach the trainer: the run outlives its terminal.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from trainui.core.config import RunConfig
from trainui.core.errors import TrainuiError
from trainui.core.event_file import EVENT_LOG, EventLogReader
from trainui.core.events import Event, Failed, Finished, Progress
from trainui.core.outcome import ExitCode
from trainui.core.run_dir import (
    CONFIG,
    LOCK_FILE,
    MARKER,
    check_run_dir,
    is_locked,
    prepare_run_dir,
)
from trainui.core.run_summary import SUMMARY, load_summary

STARTUP_TIMEOUT_S = 300.0
OUTPUT_LOG = "output.log"
TRAINER_MODULE = "trainui.core.trainer_process"


@dataclass
class Launched:
    """A trainer process just started on a run directory."""

    process: subprocess.Popen[bytes]
    run_dir: Path
    made_dir: bool | None
    """For a new run: whether the directory was made for it (False: it existed, empty);
    None for a resumed run, whose files are never removed."""
    reader: EventLogReader

    def alive(self) -> bool:
        """Whether the trainer still runs (it may not have locked the run yet)."""
        return self.process.poll() is None or is_locked(self.run_dir)

    def wait_until_training(self, timeout: float = STARTUP_TIMEOUT_S) -> None:
        """Return once the trainer has trained a step (or finished); raise TrainuiError
        with its error line, and its exit status, if it fails first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.reader.read_new():
                if _is_training(event):
                    return
                if isinstance(event, Failed):
                    self.process.wait()
                    raise LaunchFailed(event.message, event.exit_code)
            if self.process.poll() is not None:
                raise LaunchFailed(self.last_output_line() or
                                   f"the trainer exited with {self.process.returncode}",
                                   self.process.returncode)
            time.sleep(0.1)
        raise TrainuiError(
            f"the background trainer (pid {self.process.pid}) has not started training "
            f"after {timeout:.0f}s; see {self.run_dir / OUTPUT_LOG}")

    def started(self) -> bool:
        """Whether the trainer got as far as starting the run."""
        try:
            return bool(load_summary(self.run_dir).sessions)
        except OSError:
            return False

    def remove_if_unstarted(self) -> bool:
        """Remove what preparing a new run made, if its trainer never started it."""
        if self.made_dir is None or self.started():
            return False
        for name in (MARKER, CONFIG, OUTPUT_LOG, LOCK_FILE, EVENT_LOG, SUMMARY, "error.log"):
            try:
                (self.run_dir / name).unlink()
            except FileNotFoundError:
                pass
        if self.made_dir:
            try:
                self.run_dir.rmdir()
            except OSError:
                pass  # something else is in it: leave it
        return True

    def last_output_line(self) -> str:
        """The trainer's last line of output (its error, when it failed)."""
        path = self.run_dir / OUTPUT_LOG
        try:
            lines = path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1].removeprefix("trainui: error: ") if lines else ""


class LaunchFailed(TrainuiError):
    """The trainer failed before it trained; `exit_code` is its exit status."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _is_training(event: Event) -> bool:
    return isinstance(event, Progress | Finished)


def launch_trainer(config: RunConfig | None, resume: str | None) -> Launched:
    """Prepare a new run (or check one to resume) and start its trainer; return at once."""
    if resume is not None:
        run_dir = Path(resume)
        check_run_dir(run_dir, "resume")
        if is_locked(run_dir):
            raise TrainuiError(f"run {run_dir} is being trained by another process")
        child: list[str] = [str(run_dir), "--resume"]
        made: bool | None = None
    else:
        assert config is not None
        made = not (config.run_dir and Path(config.run_dir).exists())
        run_dir = prepare_run_dir(config)
        child = [str(run_dir)]
    reader = EventLogReader(run_dir / EVENT_LOG)
    reader.skip_to_end()  # a resumed run's old events do not count as a start
    return Launched(_spawn(run_dir, child), run_dir, made, reader)


def start_detached(config: RunConfig | None, resume: str | None) -> int:
    """Start the background trainer, wait until it trains, say where to watch it."""
    launched = launch_trainer(config, resume)
    try:
        launched.wait_until_training()
    except LaunchFailed as failure:
        launched.remove_if_unstarted()
        print(f"trainui: error: {failure}", file=sys.stderr)
        return failure.exit_code if failure.exit_code in set(ExitCode) else ExitCode.FAILED
    run_dir = launched.run_dir
    print(f"training in the background (pid {launched.process.pid}): {run_dir}")
    print(f"  watch it:  trainui watch {run_dir}")
    print(f"  its log:   {run_dir / OUTPUT_LOG}")
    return ExitCode.OK


def _spawn(run_dir: Path, child_args: list[str]) -> subprocess.Popen[bytes]:
    log = os.open(run_dir / OUTPUT_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        return subprocess.Popen(
            [sys.executable, "-m", TRAINER_MODULE, *child_args],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )
    finally:
        os.close(log)
