"""A headless trainer: log lines on stdout, signals that stop gracefully, an exit status.

`trainui train --headless` runs it in its own process; the live view and `--detach` start
it as a child, `python -m trainui.core.trainer_process RUN_DIR [--resume [--extend]]`, on a
run directory they prepared (or one to resume; `--extend`: one just extended to more
epochs). The child never imports the UI, and it locks the run and says so in events.jsonl
before it imports torch, so a view shows at once what the trainer is doing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .console import ConsoleSink
from .control import STOP_NOW, Control
from .errors import one_line, report_error
from .events import Failed, StageStarted
from .outcome import ExitCode, exit_code

if TYPE_CHECKING:
    from .config import RunConfig
    from .run_record import OpenedRun

USAGE = "usage: python -m trainui.core.trainer_process RUN_DIR [--resume [--extend]]"


def install_stop_signals(control: Control) -> list[int]:
    """First Ctrl+C/SIGTERM: save, stop at the next step and finish; a second Ctrl+C: stop
    at once. Returns the list the handler appends each received signal to."""
    received: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        if received and signum == signal.SIGINT:
            raise KeyboardInterrupt
        received.append(signum)
        control.request_save()
        control.request_stop(STOP_NOW, source=signal.Signals(signum).name)
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
    1 for a failed run, 130/143 after SIGINT/SIGTERM."""
    from .job import run_training, train_prepared

    control = Control()
    console = ConsoleSink()
    received = install_stop_signals(control)
    if config is not None:
        result = run_training(config, control=control, views=[console])
    else:
        assert run_dir is not None
        result = train_prepared(run_dir, control=control, views=[console], resume=resume,
                                opened=opened, extend=extend)
    return exit_code(result.cause, signal_number=received[0] if received else None)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the trainer child process."""
    from .run_record import open_run

    args = list(sys.argv[1:] if argv is None else argv)
    resume, extend = "--resume" in args, "--extend" in args
    paths = [arg for arg in args if arg not in ("--resume", "--extend")]
    if len(paths) != 1 or (extend and not resume):
        print(USAGE, file=sys.stderr)
        return ExitCode.USAGE
    opened = None
    try:
        opened = open_run(Path(paths[0]), resume=resume)
        opened.record(StageStarted(stage="importing torch"))
        return train_headless(run_dir=opened.run_dir, resume=resume, opened=opened,
                              extend=extend)
    except (Exception, KeyboardInterrupt) as exc:  # the one place errors become a line
        code = report_error(exc)
        if opened is not None and not opened.closed:  # it failed before training took over
            with contextlib.suppress(Exception):
                opened.record(Failed(message=one_line(exc), exit_code=code))
            opened.close()
        return code


if __name__ == "__main__":
    sys.exit(main())
