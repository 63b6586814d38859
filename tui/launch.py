"""`trainui train --detach`: train in a background process that outlives the terminal."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from trainui.core.config import RunConfig
from trainui.core.errors import TrainuiError
from trainui.core.event_log import EVENT_LOG, EventLogReader
from trainui.core.events import RunStarted
from trainui.core.rundir import is_locked, new_run_name, refuse_existing_run, unique_path
from trainui.core.runs import is_run_dir

STARTUP_TIMEOUT_S = 300.0
OUTPUT_LOG = "output.log"


def config_to_argv(config: RunConfig) -> list[str]:
    """Train flags that reproduce `config` (the inverse of the parser)."""
    argv = [
        "--dataset", config.dataset, "--model", config.model,
        "--epochs", str(config.epochs), "--batch-size", str(config.batch_size),
        "--lr", repr(config.lr), "--optimizer", config.optimizer,
        "--weight-decay", repr(config.weight_decay), "--scheduler", config.scheduler,
        "--lr-patience", str(config.lr_patience), "--patience", str(config.patience),
        "--min-delta", repr(config.min_delta), "--amp", config.amp,
        "--seed", str(config.seed), "--device", config.device,
        "--num-workers", str(config.num_workers),
        "--checkpoint-every", str(config.checkpoint_every),
    ]
    if config.data_dir:
        argv += ["--data-dir", config.data_dir]
    if config.clip_grad is not None:
        argv += ["--clip-grad", repr(config.clip_grad)]
    argv += ["--download"] * config.download + ["--deterministic"] * config.deterministic
    return argv


def start_detached(config: RunConfig, args: Any, argv: list[str]) -> int:
    """Start the background trainer, wait until it is running, say where to watch it."""
    process, run_dir = launch_trainer(config, args.resume)
    print(f"training in the background (pid {process.pid}): {run_dir}")
    print(f"  watch it:  trainui watch {run_dir}")
    print(f"  its log:   {run_dir / OUTPUT_LOG}")
    return 0


def launch_trainer(
    config: RunConfig, resume: str | None
) -> tuple[subprocess.Popen[bytes], Path]:
    """Start a headless trainer in its own session; return once it has started training.

    Its output goes to RUN_DIR/output.log. If it fails before training, its error line is
    raised as TrainuiError (and a new run's folder is removed again).
    """
    if resume:
        run_dir = Path(resume)
        if not is_run_dir(run_dir):
            raise TrainuiError(f"cannot resume {run_dir}: not a trainui run (no config.json)")
        if is_locked(run_dir):
            raise TrainuiError(f"run {run_dir} is being trained by another process")
        child = ["--resume", str(run_dir)]
        created = False
    else:
        run_dir = Path(config.run_dir) if config.run_dir else unique_path(
            Path(config.runs_root) / new_run_name(config.dataset, config.model))
        refuse_existing_run(run_dir)
        child = [*config_to_argv(config), "--run-dir", str(run_dir)]
        created = not run_dir.exists()
        run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    reader = EventLogReader(run_dir / EVENT_LOG)
    reader.read_new()  # a resumed run's old events do not count as a start
    process = _spawn(run_dir, child)
    try:
        _wait_until_running(process, run_dir, reader)
    except TrainuiError:
        if created and [p.name for p in run_dir.iterdir()] == [OUTPUT_LOG]:
            shutil.rmtree(run_dir)  # it never became a run
        raise
    return process, run_dir


def _spawn(run_dir: Path, child_args: list[str]) -> subprocess.Popen[bytes]:
    log = os.open(run_dir / OUTPUT_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        # A new session: the terminal's hang-up and Ctrl+C never reach the trainer.
        return subprocess.Popen(
            [sys.executable, "-m", "trainui.tui.cli", "train", "--headless", *child_args],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )
    finally:
        os.close(log)


def _wait_until_running(
    process: subprocess.Popen[bytes], run_dir: Path, reader: EventLogReader
) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if any(isinstance(event, RunStarted) for event in reader.read_new()):
            return
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
