"""A headless trainer: log lines on stdout, signals that stop gracefully, an exit status.

`trainui train --headless` runs it in its own process; the live view and `--detach` start
it as a child, `python -m trainui.core.trainer_process RUN_DIR [--resume [--extend]]`, on a
run directory they prepared (or one to resume; `--extend`: one just extended to more
epochs). The child never imports the UI, and it locks the run and says so in events.jsonl
before it imports torch, so a view shows at once what the trainer is doing.

A run of several processes (`--nproc-per-node`, `--nnodes`) makes this child torchrun's
agent (core/torchrun.py), which starts this module once a rank: under torchrun, each
process joins the job, and the one holding the run records it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .console import ConsoleSink
from .control import STOP_NOW, Control
from .errors import one_line, report_error
from .events import Failed, StageStarted
from .outcome import ExitCode, exit_code
from .torchrun import (
    ENDPOINT_FLAG,
    RANK_FLAG,
    JobShape,
    check_can_host,
    run_job,
    trainer_arguments,
)

if TYPE_CHECKING:
    from .config import RunConfig
    from .run_record import OpenedRun

USAGE = ("usage: python -m trainui.core.trainer_process RUN_DIR [--resume [--extend]] "
         "[--rdzv-endpoint HOST:PORT] (or --rank, a rank of a job that another machine records)")


def install_stop_signals(control: Control, *, announce: bool = True) -> list[int]:
    """First Ctrl+C/SIGTERM: save, stop at the next step and finish; a second Ctrl+C: stop
    at once. Returns the list the handler appends each received signal to. `announce`:
    say so on stdout (a job's recording rank says it for all)."""
    received: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        if received and signum == signal.SIGINT:
            raise KeyboardInterrupt
        received.append(signum)
        control.request_save()
        control.request_stop(STOP_NOW, source=signal.Signals(signum).name)
        if not announce:
            return
        # Said now, the step under way may take a while to end; straight to the file
        # descriptor: the handler may interrupt a write of the console's own stream.
        with contextlib.suppress(OSError):
            os.write(1, f"{signal.Signals(signum).name}: stopping after this training step "
                        "(saving, then evaluating; Ctrl+C again stops at once)\n".encode())

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return received


def train_headless(config: RunConfig | None = None, *, run_dir: Path | None = None,
                   resume: bool = False, opened: OpenedRun | None = None,
                   extend: bool = False) -> int:
    """Train a new run (`config`), a prepared `run_dir`, or resume `run_dir` (`extend`: one
    `core.job.extend_run` just extended); log lines on stdout. Returns the exit status: 0,
    1 for a failed run, 130/143 after SIGINT/SIGTERM.

    Under torchrun, this process is one rank of a job: it joins it first (global rank 0
    records a run torchrun started with `trainui train`)."""
    from .distributed import current, launched_by_torchrun, start, stop

    if current() is None and launched_by_torchrun():
        start(holds_run=os.environ["RANK"] == "0")
    try:
        return _train_here(config, run_dir=run_dir, resume=resume, opened=opened, extend=extend)
    finally:
        stop()


def _train_here(config: RunConfig | None, *, run_dir: Path | None, resume: bool,
                opened: OpenedRun | None, extend: bool) -> int:
    from .distributed import current, restarted
    from .job import run_training, train_as_rank, train_prepared

    world = current()
    control = Control()
    records = world is None or world.records
    received = install_stop_signals(control, announce=records)
    if not records:
        result = train_as_rank(control=control)
    elif config is not None and config.run_dir and restarted():  # torchrun restarted it
        result = train_prepared(Path(config.run_dir), control=control, views=[ConsoleSink()],
                                resume=True)
    elif config is not None:
        result = run_training(config, control=control, views=[ConsoleSink()])
    else:
        assert run_dir is not None
        result = train_prepared(run_dir, control=control, views=[ConsoleSink()],
                                resume=resume, opened=opened, extend=extend)
    return exit_code(result.cause, signal_number=received[0] if received else None)


@dataclass
class _Arguments:
    """The trainer's command line."""

    run_dir: Path | None
    resume: bool
    extend: bool
    endpoint: str | None


def _parse(args: list[str]) -> _Arguments | None:
    endpoint = None
    if ENDPOINT_FLAG in args[:-1]:
        at = args.index(ENDPOINT_FLAG)
        endpoint, args = args[at + 1], args[:at] + args[at + 2:]
    resume, extend = "--resume" in args, "--extend" in args
    paths = [arg for arg in args if arg not in ("--resume", "--extend")]
    if paths == [RANK_FLAG] and not resume and endpoint is None:
        return _Arguments(None, False, False, None)
    if len(paths) != 1 or paths[0].startswith("-") or (extend and not resume):
        return None
    return _Arguments(Path(paths[0]), resume, extend, endpoint)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the trainer child process (and of each rank of a job)."""
    from .run_record import open_run

    args = _parse(list(sys.argv[1:] if argv is None else argv))
    if args is None:
        print(USAGE, file=sys.stderr)
        return ExitCode.USAGE
    opened = None
    try:
        if "RANK" in os.environ and "WORLD_SIZE" in os.environ:  # a rank, under torchrun
            return _train_rank(args)
        assert args.run_dir is not None
        opened = open_run(args.run_dir, resume=args.resume)
        if _shape(opened.config, args.endpoint).several:
            return _launch_job(opened, args)
        opened.record(StageStarted(stage="importing torch"))
        return train_headless(run_dir=opened.run_dir, resume=args.resume, opened=opened,
                              extend=args.extend)
    except (Exception, KeyboardInterrupt) as exc:  # the one place errors become a line
        code = report_error(exc)
        if opened is not None and not opened.closed:  # it failed before training took over
            with contextlib.suppress(Exception):
                opened.record(Failed(message=one_line(exc), exit_code=code))
            opened.close()
        return code


def _shape(config: RunConfig, endpoint: str | None) -> JobShape:
    return JobShape(config.nproc_per_node, config.nnodes, 0, endpoint, config.max_restarts)


def _launch_job(opened: OpenedRun, args: _Arguments) -> int:
    """Be torchrun's agent for the run's job: its recording rank takes the run over."""
    shape = _shape(opened.config, args.endpoint).check()
    processes = shape.nproc_per_node * shape.nnodes
    check_can_host(shape)
    opened.record(StageStarted(stage=f"starting {processes} processes through torchrun"))
    opened.close()  # the recording rank opens it again
    return run_job(shape, trainer_arguments(opened.run_dir, resume=args.resume,
                                            extend=args.extend))


def _train_rank(args: _Arguments) -> int:
    """One rank of a job: join it; the process holding the run opens and records it (a
    restarted job resumes from its last checkpoint)."""
    from .distributed import local_rank, restarted, start, stop
    from .run_record import open_run

    world = start(holds_run=args.run_dir is not None and local_rank() == 0)
    try:
        if not world.records:
            return train_headless()
        assert args.run_dir is not None
        resume = args.resume or restarted()
        opened = open_run(args.run_dir, resume=resume)
        return train_headless(run_dir=opened.run_dir, resume=resume, opened=opened,
                              extend=args.extend and not restarted())
    finally:
        stop()


if __name__ == "__main__":
    sys.exit(main())
