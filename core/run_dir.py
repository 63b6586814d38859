"""The run directory: making a new one, recognising one trainui made, and locking it.

A run directory is claimed by its marker file, `.trainui-run` (JSON: format, version,
creation time), written exclusively when trainui creates the run. trainui writes a new run
only into a directory that does not exist or is empty, never changes the mode of a
directory it did not create, and resumes, watches or lists only directories that carry
the marker (or, for runs made before the marker existed, a config.json and an
events.jsonl that starts with a `run_started` event).
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import time
from pathlib import Path
from typing import Any

from .config import RunConfig
from .errors import TrainuiError, one_line
from .event_file import EVENT_LOG
from .files import FileWriter
from .version import __version__

MARKER = ".trainui-run"
RUN_FORMAT = "trainui-run"
RUN_FORMAT_VERSION = 1
LOCK_FILE = ".lock"
CONFIG = "config.json"
TRAINER_KEY = "trainer"
SCRIPT_TRAINER = "script"
"""config.json of a run your own code trains (`trainui.init`, `trainui run`) says
`"trainer": "script"`, with the command and your config, instead of a RunConfig."""


def new_run_name(dataset: str, model: str) -> str:
    """`<dataset>-<model>-<YYYYmmdd-HHMMSS>`, factory specs shortened to their name."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{_short(dataset)}-{_short(model)}-{stamp}"


def _short(name: str) -> str:
    return name.rpartition(":")[2].replace("/", "_") or "custom"


def create_new_run_dir(config: RunConfig) -> Path:
    """The directory of a new run, created and claimed: `--run-dir` when given, else
    `runs/<dataset>-<model>-<time>` (or `-2`, `-3`...: runs started in the same second,
    by one user or several processes, each get their own)."""
    if config.run_dir:
        return create_run_dir(Path(config.run_dir))
    return claim_new_run_dir(Path(config.runs_root) / new_run_name(config.dataset, config.model))


def new_named_run_dir(run_dir: str | os.PathLike[str] | None, root: str | os.PathLike[str],
                      name: str) -> Path:
    """A new run of your own code: `run_dir` (new or empty), else `ROOT/NAME-YYYYmmdd-HHMMSS`
    (`-2`, `-3`... when taken), NAME made safe for a file name."""
    if run_dir:
        return create_run_dir(Path(run_dir))
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("._") or "run"
    return claim_new_run_dir(Path(root) / f"{safe}-{time.strftime('%Y%m%d-%H%M%S')}")


def claim_new_run_dir(base: Path) -> Path:
    """Create and claim `base`, or `base-2`, `base-3`... when that name is taken."""
    for n in itertools.count(1):
        candidate = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            candidate.mkdir(parents=True, mode=0o700)  # taking the name: the first wins
        except FileExistsError:
            continue
        except OSError as exc:
            raise TrainuiError(f"cannot write run directory {candidate}: "
                               f"{exc.strerror or exc}") from None
        return create_run_dir(candidate)
    raise AssertionError("unreachable")


def refuse_unusable(path: Path) -> None:
    """Raise TrainuiError unless `path` can take a new run: absent, or an empty directory."""
    try:
        if not path.exists():
            return
        if not path.is_dir():
            raise TrainuiError(f"run directory {path} is a file, not a directory")
        entries = [entry.name for entry in path.iterdir()]
    except PermissionError:
        raise TrainuiError(f"cannot use run directory {path}: permission denied") from None
    if not entries:
        return
    if is_run_dir(path):
        raise TrainuiError(
            f"run directory {path} already holds a run (choose another --run-dir, "
            f"or continue it with --resume {path})"
        )
    raise TrainuiError(
        f"run directory {path} is not empty: a new run goes only into a new or empty "
        "directory (nothing in it was touched)"
    )


def create_run_dir(path: Path) -> Path:
    """Make `path` a new run directory: created owner-only if absent, then claimed.

    The marker is created exclusively, so two trainers can never claim one directory.
    An existing (empty) directory keeps its mode: trainui's files are owner-only anyway.
    """
    refuse_unusable(path)
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path / MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise TrainuiError(f"run directory {path} was claimed by another run meanwhile") from None
    except OSError as exc:
        raise TrainuiError(f"cannot write run directory {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as marker:
        json.dump({"format": RUN_FORMAT, "version": RUN_FORMAT_VERSION,
                   "created": time.time(), "trainui": __version__}, marker)
        marker.write("\n")
    return path


def is_run_dir(path: Path) -> bool:
    """True for a directory that holds a run trainui made."""
    try:
        return _run_format(path) is not None
    except OSError:
        return False


def check_run_dir(path: Path, action: str) -> None:
    """Raise TrainuiError unless `path` is a run directory this trainui can `action`."""
    try:
        if not path.exists():
            raise TrainuiError(f"cannot {action} {path}: no such directory")
        if not path.is_dir():
            raise TrainuiError(f"cannot {action} {path}: not a directory")
        version = _run_format(path)
    except PermissionError:
        raise TrainuiError(f"cannot {action} {path}: permission denied") from None
    except OSError as exc:
        raise TrainuiError(f"cannot {action} {path}: {exc.strerror or exc}") from None
    if version is None:
        raise TrainuiError(f"cannot {action} {path}: not a trainui run directory")
    if version > RUN_FORMAT_VERSION:
        raise TrainuiError(f"cannot {action} {path}: it was made by a newer trainui "
                           f"(run format {version}, this one reads {RUN_FORMAT_VERSION})")


def _run_format(path: Path) -> int | None:
    """The run format version of `path`: the marker's, 0 for a pre-marker run, else None."""
    try:
        marker: Any = json.loads((path / MARKER).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return 0 if _is_legacy_run(path) else None
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(marker, dict) or marker.get("format") != RUN_FORMAT:
        return None
    version = marker.get("version")
    return version if isinstance(version, int) and not isinstance(version, bool) else None


def _is_legacy_run(path: Path) -> bool:
    """A run written before the marker: its config names a data set and a model, and its
    event log starts with the run's first event."""
    try:
        config = json.loads((path / CONFIG).read_text(encoding="utf-8"))
        with open(path / EVENT_LOG, "rb") as events:
            first = json.loads(events.readline())
    except (FileNotFoundError, NotADirectoryError, ValueError, UnicodeDecodeError):
        return False
    return (isinstance(config, dict) and {"dataset", "model"} <= config.keys()
            and isinstance(first, dict) and first.get("kind") == "run_started")


def read_config(run_dir: Path, action: str) -> RunConfig:
    """The checked config stored in a run directory, or TrainuiError naming the problem."""
    path = run_dir / CONFIG
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrainuiError(f"cannot {action} {run_dir}: no {CONFIG} there") from None
    except PermissionError:
        raise TrainuiError(f"cannot {action} {run_dir}: {CONFIG} is not readable") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise TrainuiError(f"cannot {action} {run_dir}: {CONFIG} is not valid JSON "
                           f"({one_line(exc, 120)})") from None
    if isinstance(data, dict) and data.get(TRAINER_KEY) == SCRIPT_TRAINER:
        command = " ".join(str(part) for part in data.get("command") or []) or "your script"
        raise TrainuiError(f"cannot {action} {run_dir}: it was trained by code of your own "
                           f"({command}); run that again to train more")
    try:
        config = RunConfig.from_dict(data)
    except TrainuiError as exc:
        raise TrainuiError(f"cannot {action} {run_dir}: {CONFIG}: {exc}") from None
    config.run_dir = str(run_dir)
    return config


def store_epochs(run_dir: Path, epochs: int) -> None:
    """Set a run's `epochs` in its config.json (atomically), every other value kept as
    stored; raise TrainuiError when it cannot be read or written."""
    try:
        data = json.loads((run_dir / CONFIG).read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        data["epochs"] = epochs
        FileWriter(run_dir).write_json(CONFIG, data)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else one_line(exc)
        raise TrainuiError(f"cannot store {epochs} epochs in {run_dir / CONFIG}: "
                           f"{reason}") from None


def is_script_run(run_dir: Path) -> bool:
    """Whether code of your own trains the run (`trainui.init`, `trainui run`)."""
    try:
        data = json.loads((run_dir / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and data.get(TRAINER_KEY) == SCRIPT_TRAINER


def interrupted_message(run_dir: Path) -> str:
    """What to say of a run no process trains any more, though it did not end."""
    if is_script_run(run_dir):
        output = run_dir / "output.log"
        where = f" (its output: {output})" if output.exists() else ""
        if not (run_dir / EVENT_LOG).exists():
            return (f"the command ended before it started a trainui run (does it call "
                    f"trainui.init?){where}")
        return f"run interrupted: its process ended without finishing it{where}"
    return (f"run interrupted: no process is training it (continue with "
            f"`trainui train --resume {run_dir}`)")


def prepare_run_dir(config: RunConfig) -> Path:
    """Make a new run's directory and its config.json (for a trainer started elsewhere)."""
    config.check()
    run_dir = create_new_run_dir(config)
    config.run_dir = str(run_dir)
    FileWriter(run_dir).write_json(CONFIG, config.to_dict())
    return run_dir


class RunLock:
    """An exclusive lock on a run directory for as long as one process trains it.

    The kernel drops it when the process dies, even by kill -9, so a lock that cannot be
    taken means a live trainer.
    """

    def __init__(self, run_dir: Path) -> None:
        try:
            self._fd = os.open(run_dir / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o600)
        except OSError as exc:
            raise TrainuiError(f"cannot lock run {run_dir}: {exc.strerror or exc}") from None
        try:
            taken = _take(self._fd)
            if taken:
                # Who holds it, for `trainui runs` and for anyone who must stop that process.
                os.ftruncate(self._fd, 0)
                os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:
            os.close(self._fd)
            raise TrainuiError(f"cannot lock run {run_dir}: {exc.strerror or exc}") from None
        if not taken:
            os.close(self._fd)
            holder = lock_holder(run_dir)
            by = f" (pid {holder})" if holder else ""
            raise TrainuiError(f"run {run_dir} is being trained by another process{by}")

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        """Let go of the lock (closing the descriptor releases it); once is enough."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _take(fd: int, tries: int = 20) -> bool:
    """Take the lock; False if another process holds it. A look by `is_locked` holds it
    for a moment (shared), so a refusal is tried again a few times over ~0.1 s."""
    for attempt in range(tries):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt + 1 < tries:
                time.sleep(0.005)
    return False


def is_locked(run_dir: Path) -> bool:
    """True while some process holds the run's lock (it is training the run)."""
    try:
        fd = os.open(run_dir / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False  # no lock file (never trained), or another user's run
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def lock_holder(run_dir: Path) -> int | None:
    """The pid of the process training the run, or None when none does."""
    if not is_locked(run_dir):
        return None
    try:
        return int((run_dir / LOCK_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def trainer_stopped(run_dir: Path) -> bool:
    """True when the process training the run is stopped (SIGSTOP, a debugger): alive,
    holding the run, yet doing nothing. Linux only; elsewhere always False."""
    pid = lock_holder(run_dir)
    if pid is None:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state follows the command name, which is in parentheses and may hold spaces.
    state = stat.rpartition(")")[2].split()[:1]
    return state in (["T"], ["t"])
