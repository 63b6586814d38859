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
from pathlib import Path

from trainui.core.config import RunConfig
from trainui.core.errors import TrainuiError
from trainui.core.event_file import EVENT_LOG, EventLogReader
from trainui.core.events import Failed, RunStarted
from trainui.core.run_dir import (
    CONFIG,
    LOCK_FILE,
    MARKER,
    check_run_dir,
    is_locked,
    prepare_run_dir,
)

STARTUP_TIMEOUT_S = 300.0
OUTPUT_LOG = "output.log"
TRAINER_MODULE = "trainui.core.trainer_process"


def start_detached(config: RunConfig | None, resume: str | None) -> int:
    """Start the background trainer, wait until it is running, say where to watch it."""
    process, run_dir = launch_trainer(config, resume)
    print(f"training in the background (pid {process.pid}): {run_dir}")
    print(f"  watch it:  trainui watch {run_dir}")
    print(f"  its log:   {run_dir / OUTPUT_LOG}")
    return 0


def launch_trainer(
    config: RunConfig | None, resume: str | None
) -> tuple[subprocess.Popen[bytes], Path]:
    """Start a headless trainer in its own session; return once it has started training.

    Its output goes to RUN_DIR/output.log. If it fails before training, its error line is
    raised as TrainuiError, and a new run's files are removed again.
    """
    if resume is not None:
        run_dir = Path(resume)
        check_run_dir(run_dir, "resume")
        if is_locked(run_dir):
            raise TrainuiError(f"run {run_dir} is being trained by another process")
        child, made = [str(run_dir), "--resume"], None
    else:
        assert config is not None
        existed = Path(config.run_dir).exists() if config.run_dir else False
        run_dir = prepare_run_dir(config)
        child, made = [str(run_dir)], existed
    reader = EventLogReader(run_dir / EVENT_LOG)
    reader.skip_to_end()  # a resumed run's old events do not count as a start
    process = _spawn(run_dir, child)
    try:
        _wait_until_running(process, run_dir, reader)
    except TrainuiError:
        if made is not None:
            remove_unstarted(run_dir, keep_dir=made)
        raise
    return process, run_dir


def remove_unstarted(run_dir: Path, *, keep_dir: bool) -> None:
    """Remove what preparing a run that never started made (and its empty directory)."""
    for name in (MARKER, CONFIG, OUTPUT_LOG, LOCK_FILE, EVENT_LOG, "error.log"):
        try:
            (run_dir / name).unlink()
        except FileNotFoundError:
            pass
    if not keep_dir:
        try:
            run_dir.rmdir()
        except OSError:
            pass  # something else is in it: leave it


def _spawn(run_dir: Path, child_args: list[str]) -> subprocess.Popen[bytes]:
    log = os.open(run_dir / OUTPUT_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        return subprocess.Popen(
            [sys.executable, "-m", TRAINER_MODULE, *child_args],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )
    finally:
        os.close(log)


def _wait_until_running(
    process: subprocess.Popen[bytes], run_dir: Path, reader: EventLogReader
) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        for event in reader.read_new():
            if isinstance(event, RunStarted):
                return
            if isinstance(event, Failed):
                process.wait()
                raise TrainuiError(event.message)
        if process.poll() is not None:
            raise TrainuiError(_last_line(run_dir / OUTPUT_LOG) or
                               f"the background trainer exited with {process.returncode}")
        time.sleep(0.1)
    raise TrainuiError(
        f"the background trainer (pid {process.pid}) has not started training after "
        f"{STARTUP_TIMEOUT_S:.0f}s; see {run_dir / OUTPUT_LOG}"
    )


def _last_line(path: Path) -> str:
    lines = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    return lines[-1].removeprefix("trainui: error: ") if lines else ""
