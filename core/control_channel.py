"""Control a training process from another terminal through a FIFO in its run directory.

The training process creates `RUN_DIR/control` (owner-only, mode 0600, inside the 0700 run
directory, so the kernel refuses every other user) and reads one request per line on a
daemon thread, blocked in `read` while idle. Watchers write requests; the trainer
acknowledges with events (Paused, Resumed, StopRequested, CheckpointSaved) in events.jsonl,
so every watcher sees the new state.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from pathlib import Path

from .control import STOP_AFTER_EPOCH, STOP_NOW, Control
from .errors import TrainuiError
from .events import Event, Paused, Resumed, RunStarted

CHANNEL = "control"
REQUESTS = ("pause", "resume", "toggle_pause", "save", "stop_epoch", "stop_now")


def apply_request(control: Control, request: str) -> bool:
    """Apply one request word to `control`; False for unknown words."""
    actions = {
        "pause": control.pause,
        "resume": control.resume,
        "toggle_pause": control.toggle_pause,
        "save": control.request_save,
        "stop_epoch": lambda: control.request_stop(STOP_AFTER_EPOCH, source="watcher"),
        "stop_now": lambda: control.request_stop(STOP_NOW, source="watcher"),
    }
    action = actions.get(request)
    if action is None:
        return False
    action()
    return True


class ControlChannel:
    """The training side: creates the FIFO and feeds requests into a Control."""

    def __init__(self, run_dir: str | os.PathLike[str], control: Control) -> None:
        self.path = Path(run_dir) / CHANNEL
        self.control = control
        _remove_stale(self.path)
        os.mkfifo(self.path, 0o600)
        os.chmod(self.path, 0o600)
        # O_RDWR keeps a writer open on our side, so reads block instead of seeing EOF
        # whenever the last watcher closes.
        self._fd = os.open(self.path, os.O_RDWR)
        self._thread = threading.Thread(target=self._serve, name="trainui-control", daemon=True)
        self._closed = False
        self._thread.start()

    def _serve(self) -> None:
        buffer = b""
        while not self._closed:
            try:
                chunk = os.read(self._fd, 4096)
            except OSError:
                return
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                apply_request(self.control, line.decode("ascii", "replace").strip())

    def close(self) -> None:
        """Stop serving and remove the FIFO (watchers then know the run is not live)."""
        if self._closed:
            return
        self._closed = True
        try:
            os.write(self._fd, b"\n")  # wake the reader so it sees the flag
        except OSError:
            pass
        self._thread.join(timeout=2)
        os.close(self._fd)
        _remove_stale(self.path)


def _remove_stale(path: Path) -> None:
    try:
        if stat.S_ISFIFO(path.lstat().st_mode):
            path.unlink()
    except FileNotFoundError:
        pass


def send_request(run_dir: str | os.PathLike[str], request: str) -> None:
    """Send one request to the process training in `run_dir`, or raise TrainuiError."""
    if request not in REQUESTS:
        raise TrainuiError(f"unknown request {request!r} (choose from {', '.join(REQUESTS)})")
    path = Path(run_dir) / CHANNEL
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise TrainuiError(f"run {run_dir} is not training (no control channel)") from None
    except PermissionError:
        raise TrainuiError(f"run {run_dir} belongs to another user: not allowed") from None
    if not stat.S_ISFIFO(info.st_mode) or info.st_uid != os.getuid():
        raise TrainuiError(f"refusing {path}: not a control channel owned by you")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise TrainuiError(_open_error(run_dir, exc)) from None
    try:
        os.write(fd, request.encode("ascii") + b"\n")
    finally:
        os.close(fd)


def _open_error(run_dir: str | os.PathLike[str], exc: OSError) -> str:
    if exc.errno == errno.ENXIO:
        return f"run {run_dir} is not training (nobody reads its control channel)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"run {run_dir} belongs to another user: not allowed"
    return f"cannot reach run {run_dir}: {exc.strerror}"


class RemoteControl:
    """The watcher side: the Control methods a UI calls, sent to a training process.

    Its `paused` state follows the trainer's Paused/Resumed events (`observe`), since only
    the trainer knows the truth. A request that cannot reach the trainer (it is gone, or
    the channel is not its) raises TrainuiError saying why.
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.run_dir = Path(run_dir)
        self.paused = False

    def observe(self, event: Event) -> None:
        """Track the trainer's pause state from its events."""
        if isinstance(event, Paused):
            self.paused = True
        elif isinstance(event, Resumed | RunStarted):
            self.paused = False

    def _send(self, request: str) -> None:
        send_request(self.run_dir, request)  # TrainuiError says why it did not reach it

    def pause(self) -> None:
        """Ask the trainer to pause."""
        self._send("pause")

    def resume(self) -> None:
        """Ask the trainer to resume."""
        self._send("resume")

    def toggle_pause(self) -> bool:
        """Ask the trainer to pause if running, resume if paused; return the state asked."""
        self._send("resume" if self.paused else "pause")
        return not self.paused

    def request_save(self) -> None:
        """Ask for a checkpoint now."""
        self._send("save")

    def request_stop(self, mode: str = STOP_AFTER_EPOCH, source: str = "watcher") -> None:
        """Ask the trainer to stop after the epoch or now."""
        self._send("stop_now" if mode == STOP_NOW else "stop_epoch")
