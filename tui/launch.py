"""Start a trainer in a process of its own session, for the live view and `--detach`.

The parent prepares the run directory (marker and config.json: the config crosses the
process boundary as the file the trainer reads and checks), then starts
`python -m trainui.core.trainer_process RUN_DIR` (with `--resume [--extend]` to continue
one) - or, for `trainui run`, the user's own command, which finds the directory in
TRAINUI_RUN_DIR when it calls `trainui.init`. A new session means the terminal's hang-up
and Ctrl+C never reach the trainer: the run outlives its terminal.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from trainui.core.config import RunConfig
from trainui.core.errors import TrainuiError
from trainui.core.event_file import EVENT_LOG, EventLogReader
from trainui.core.events import Event, Failed, Finished, Progress
from trainui.core.files import FileWriter
from trainui.core.outcome import ExitCode
from trainui.core.run_dir import (
    CONFIG,
    LOCK_FILE,
    MARKER,
    SCRIPT_TRAINER,
    TRAINER_KEY,
    check_run_dir,
    is_locked,
    new_named_run_dir,
    prepare_run_dir,
    read_config,
)
from trainui.core.run_summary import SUMMARY, load_summary
from trainui.core.torchrun import ENDPOINT_FLAG

STARTUP_TIMEOUT_S = 300.0
OUTPUT_LOG = "output.log"
TRAINER_MODULE = "trainui.core.trainer_process"


@dataclass
class Launched:
    """A trainer process just started on a run directory."""

    process: subprocess.Popen[bytes]
    run_dir: Path
    made_dirs: list[Path] | None
    """For a new run: the directories made for it, deepest first (none when it went into
    an existing empty one); None for a resumed run, whose files are never removed."""
    reader: EventLogReader
    launched_at: float = field(default_factory=time.time)
    """When the process was started: a session started since then is this trainer's."""

    def alive(self) -> bool:
        """Whether the trainer still runs (it may not have locked the run yet)."""
        return self.process.poll() is None or is_locked(self.run_dir)

    def wait_until_training(self, timeout: float = STARTUP_TIMEOUT_S) -> bool:
        """Wait until the trainer has trained a step (or finished): True; False if it is
        still setting up after `timeout`. Raise LaunchFailed, with its error line and exit
        status, if it fails first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            exited = self.process.poll() is not None  # before reading: its last events count
            for event in self.reader.read_new():
                if _is_training(event):
                    return True
                if isinstance(event, Failed):
                    self.process.wait()
                    raise LaunchFailed(event.message, event.exit_code)
            if exited:
                code = self.process.returncode
                if code == ExitCode.OK:  # a command of your own that never started a run
                    raise LaunchFailed("the command ended without starting a trainui run "
                                       "(does it call trainui.init, or use trainui's "
                                       "callback?)", ExitCode.FAILED)
                raise LaunchFailed(self.last_output_line() or f"the trainer exited with {code}",
                                   code)
            time.sleep(0.1)
        return False

    def stop_at_once(self) -> None:
        """Two SIGINTs, as two Ctrl+C: the trainer stops without saving or evaluating.

        Apart, so its handler runs twice: signals that arrive during one long torch call
        are handled as one."""
        for _ in range(2):
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGINT)
                time.sleep(0.2)

    def wait(self, quiet_for: float = 2.0) -> int | None:
        """The trainer's exit status once it ends; after `quiet_for` seconds a line says
        what is awaited. None if Ctrl+C ends the wait (the trainer goes on by itself)."""
        try:
            return self.process.wait(timeout=quiet_for)
        except subprocess.TimeoutExpired:
            print(f"trainui: waiting for the trainer (pid {self.process.pid}) to finish; "
                  "Ctrl+C leaves it running", file=sys.stderr)
        try:
            return self.process.wait()
        except KeyboardInterrupt:
            return None

    def after_view(self, code: int, terminal_lost: bool, shown_to_end: bool) -> int:
        """What the command exits with once the live view has closed on this trainer."""
        if terminal_lost or code == ExitCode.TERMINATED:
            return code  # the trainer goes on (or stops, as asked) in its own session
        if code == ExitCode.INTERRUPTED and not shown_to_end:
            self.stop_at_once()  # the second Ctrl+C: the trainer stops at once too
        trained = self.wait()
        if trained is None:
            return code
        if trained == ExitCode.USAGE and not self.started():
            message = self.last_output_line()  # bad input the trainer found: nothing trained
            self.remove_unstarted()
            print(f"trainui: error: {message}", file=sys.stderr)
            return ExitCode.USAGE
        if trained not in (ExitCode.OK, ExitCode.INTERRUPTED, ExitCode.TERMINATED):
            print(f"trainui: error: training failed (exit {trained}); see "
                  f"{self.run_dir / OUTPUT_LOG}", file=sys.stderr)
            return trained if trained == ExitCode.USAGE else ExitCode.FAILED
        return code

    def started(self) -> bool:
        """Whether the trainer got as far as starting the run."""
        try:
            return bool(load_summary(self.run_dir).sessions)
        except OSError:
            return False

    def remove_unstarted(self) -> None:
        """Remove what preparing a new run made, if its trainer refused it as bad input
        before starting (an unexpected error keeps the directory: error.log tells why)."""
        if self.made_dirs is None or self.started():
            return
        for name in (MARKER, CONFIG, OUTPUT_LOG, LOCK_FILE, EVENT_LOG, SUMMARY):
            try:
                (self.run_dir / name).unlink()
            except FileNotFoundError:
                pass
        for folder in self.made_dirs:
            try:
                folder.rmdir()
            except OSError:
                return  # something else is in it: leave it, and what holds it

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


def launch_trainer(config: RunConfig | None, resume: str | None, *,
                   extend: bool = False, endpoint: str | None = None) -> Launched:
    """Prepare a new run (or check one to resume) and start its trainer; return at once.
    `extend`: the resumed run was just extended (`core.job.extend_run`) and trains on even
    if early stopping had ended it. `endpoint`: where the machines of a job of several
    meet (the trainer then runs torchrun's agent)."""
    if resume is not None:
        run_dir = Path(resume)
        check_run_dir(run_dir, "resume")
        read_config(run_dir, "resume")  # bad input is said here, before anything starts
        if is_locked(run_dir):
            raise TrainuiError(f"run {run_dir} is being trained by another process")
        child: list[str] = [str(run_dir), "--resume", *(["--extend"] if extend else [])]
        made: list[Path] | None = None
    else:
        assert config is not None
        missing = _missing(Path(config.run_dir or config.runs_root))
        run_dir = prepare_run_dir(config)
        made = missing if config.run_dir else [run_dir, *missing]
        child = [str(run_dir)]
    if endpoint:
        child += [ENDPOINT_FLAG, endpoint]
    reader = EventLogReader(run_dir / EVENT_LOG)
    reader.skip_to_end()  # a resumed run's old events do not count as a start
    return Launched(_spawn(run_dir, [sys.executable, "-m", TRAINER_MODULE, *child]),
                    run_dir, made, reader)


def launch_script(command: Sequence[str], run_dir: str | None, root: str) -> Launched:
    """Prepare a new run for your own command and start it (`trainui run -- COMMAND`)."""
    command = list(command)
    check_command(command)
    missing = _missing(Path(run_dir or root))
    path = prepare_script_run(command, run_dir, root)
    made = missing if run_dir else [path, *missing]
    reader = EventLogReader(path / EVENT_LOG)
    return Launched(_spawn(path, command, script_environment(path, command)), path, made,
                    reader)


def prepare_script_run(command: list[str], run_dir: str | None, root: str) -> Path:
    """A new run directory for `command`, with its config.json (what ran)."""
    path = new_named_run_dir(run_dir, root, script_name(command))
    FileWriter(path).write_json(CONFIG, {TRAINER_KEY: SCRIPT_TRAINER, "command": command})
    return path


def check_command(command: Sequence[str]) -> None:
    """TrainuiError unless `command` names a program that can be started."""
    if not command:
        raise TrainuiError("give the command to run after --, e.g. "
                           "`trainui run -- python train.py`")
    program = command[0]
    if os.sep in program:
        if not (os.path.isfile(program) and os.access(program, os.X_OK)):
            raise TrainuiError(f"cannot run {program}: no such executable file")
    elif shutil.which(program) is None:
        raise TrainuiError(f"cannot run {program}: command not found")


def script_name(command: Sequence[str]) -> str:
    """A run name from a command: the script's name (`train` for `python train.py`, the
    module for `python -m pkg.train`), else the program's."""
    words = [word for word in command[1:] if not word.startswith("-")]
    if "-m" in command[1:-1]:
        name = command[command.index("-m", 1) + 1].rpartition(".")[2]
    elif words and Path(words[0]).suffix == ".py":
        name = Path(words[0]).stem
    else:
        name = Path(command[0]).name
    return name


def script_environment(run_dir: Path, command: Sequence[str]) -> dict[str, str]:
    """The command's environment: where `trainui.init` writes, and what was run."""
    from trainui.core.api import COMMAND_ENV, RUN_DIR_ENV

    return {**os.environ, RUN_DIR_ENV: str(run_dir.resolve()),
            COMMAND_ENV: json.dumps(list(command))}


def _missing(path: Path) -> list[Path]:
    """`path` and those of its parents that do not exist yet, deepest first."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    return missing


def start_detached(launched: Launched) -> int:
    """Wait until the background trainer just launched trains; say where to watch it."""
    try:
        training = launched.wait_until_training()
    except LaunchFailed as failure:
        if failure.exit_code == ExitCode.USAGE:
            launched.remove_unstarted()
        print(f"trainui: error: {failure}", file=sys.stderr)
        return failure.exit_code
    run_dir = launched.run_dir
    if not training:
        print(f"trainui: note: the trainer is still setting up after {STARTUP_TIMEOUT_S:.0f}s "
              "(a download?); it goes on in the background", file=sys.stderr)
    print(f"training in the background (pid {launched.process.pid}): {run_dir}")
    print(f"  watch it:  trainui watch {run_dir}")
    print(f"  its log:   {run_dir / OUTPUT_LOG}")
    return ExitCode.OK


def _spawn(run_dir: Path, argv: list[str],
           env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    log = os.open(run_dir / OUTPUT_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, env=env)
    except OSError as exc:
        raise TrainuiError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
    finally:
        os.close(log)


def print_exit_summary(run_dir: Path, pid: int | None = None) -> None:
    """Once the view has closed: the run's outcome, best epoch, test scores, directory and
    the commands to watch or resume it, on the terminal (not if it went away)."""
    from trainui.core.exit_summary import exit_summary
    from trainui.tui.terminal import terminal_alive

    if not terminal_alive(1):  # stdout
        return
    try:
        text = exit_summary(run_dir, load_summary(run_dir), trainer_alive=is_locked(run_dir),
                            pid=pid)
        print(text, flush=True)
    except (OSError, TrainuiError):
        pass  # the run's files or the terminal are gone: nothing worth an error
