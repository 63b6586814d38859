"""Control a training process from another terminal through a FIFO in its run directory.

The training process creates `RUN_DIR/control` (owner-only, mode 0600, inside the 0700 run
directory, so the kernel refuses every other user) and reads requests on a daemon thread,
blocked in `read` while idle. Watchers write requests; the trainer acknowledges with events
(Paused, Resumed, StopRequested, CheckpointSaved) in events.jsonl, so every watcher sees the
new state.

Framing: a line asks for the request word it ends with (`pause\n`, but also
`<garbage>pause\n`); a line ending in no known word asks for nothing. So a partial line that
a crashed or careless writer left never swallows the request written after it, and the
reader keeps only the last few bytes of a line: a line of any length costs O(n) time and no
memory. trainui's own writers send each request as one write of `\nWORD\n`, far below
PIPE_BUF and therefore atomic, whose leading newline ends whatever partial line came before.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import stat
import threading
import time
from pathlib import Path
from typing import Protocol

from .control import LR_SCALE, LR_SET, STOP_AFTER_EPOCH, STOP_NOW, Control, check_lr_request
from .errors import TrainuiError
from .events import Event, Paused, Resumed, RunStarted

CHANNEL = "control"
REQUESTS = ("pause", "resume", "toggle_pause", "save", "stop_epoch", "stop_now")
VALUE_REQUESTS = {"set_lr": LR_SET, "scale_lr": LR_SCALE}
"""Requests that carry a number: `set_lr 0.0001\n` (the word, a space, the value)."""
MAX_VALUE_BYTES = 24
"""A value is at most this long (`repr` of any float fits)."""
READ_SIZE = 1 << 16
"""Bytes read at once: a pipe's whole default capacity, so a flood costs few reads."""
SEND_PATIENCE_S = 1.0
"""How long a writer waits for room in a full channel before giving up."""

# A request is a known word right before a newline; the alternatives go longest first, and
# the leftmost match wins, so `toggle_pause` is never read as `pause`. One match also takes
# the lines that repeat it (blank lines between them allowed): a flood of one request is
# one match, not millions. A value request is its word, a space and a number of bounded
# length right before the newline.
_WORDS = "|".join(sorted(REQUESTS, key=len, reverse=True)).encode("ascii")
_VALUE_WORDS = "|".join(sorted(VALUE_REQUESTS, key=len, reverse=True)).encode("ascii")
_REQUEST = re.compile(b"(" + _WORDS + b")\n(?:\n*\\1\n)*|(" + _VALUE_WORDS
                      + b") ([0-9.][0-9eE.+-]{0,%d})\n" % (MAX_VALUE_BYTES - 1))
_LONGEST = max(max(map(len, REQUESTS)), max(map(len, VALUE_REQUESTS)) + 1 + MAX_VALUE_BYTES)


def apply_request(control: Control, request: str) -> bool:
    """Apply one request (a word, or a word and its value) to `control`; False for one it
    does not know or whose value it cannot use."""
    word, _, value = request.partition(" ")
    if word in VALUE_REQUESTS:
        try:
            control.request_lr(float(value), VALUE_REQUESTS[word])
        except ValueError:
            return False  # not a number, or not a usable one: nothing changes
        return True
    actions = {
        "pause": control.pause,
        "resume": control.resume,
        "toggle_pause": control.toggle_pause,
        "save": control.request_save,
        "stop_epoch": lambda: control.request_stop(STOP_AFTER_EPOCH, source="view"),
        "stop_now": lambda: control.request_stop(STOP_NOW, source="view"),
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
        _make_way(self.path)
        os.mkfifo(self.path, 0o600)
        # O_RDWR keeps a writer open on our side, so reads block instead of seeing EOF
        # whenever the last watcher closes.
        self._fd = os.open(self.path, os.O_RDWR | os.O_NOFOLLOW)
        os.fchmod(self._fd, 0o600)  # whatever the umask made of it
        self._thread = threading.Thread(target=self._serve, name="trainui-control", daemon=True)
        self._closed = False
        self._thread.start()

    def _serve(self) -> None:
        reader = RequestReader()
        while not self._closed:
            try:
                chunk = os.read(self._fd, READ_SIZE)
            except OSError:
                return
            for request in reader.feed(chunk):
                apply_request(self.control, request)

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


class RequestReader:
    """Cuts the channel's byte stream into request words (see the framing above).

    Linear in the bytes fed, whatever their line lengths, and it keeps at most the last
    `_LONGEST` bytes of an unfinished line. A request repeated on consecutive lines counts
    once (`toggle_pause` by the parity of its repeats): a flood of `pause` lines is one
    pause, not millions of calls.
    """

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, chunk: bytes) -> list[str]:
        """The requests that `chunk` completes, in order."""
        data = self._tail + chunk
        end = data.rfind(b"\n") + 1
        self._tail = data[max(end, len(data) - _LONGEST):]
        requests: list[str] = []
        for match in _REQUEST.finditer(data, 0, end):
            word = match[1]
            if word is None:
                requests.append(f"{match[2].decode('ascii')} {match[3].decode('ascii')}")
            elif word != b"toggle_pause" or match[0].count(word) % 2:
                requests.append(word.decode("ascii"))
        return requests


def _make_way(path: Path) -> None:
    """Remove what a FIFO cannot be created over: a stale FIFO, or a regular file that
    someone made by writing a request while no trainer ran. Refuse anything else (a link
    is never followed)."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not (stat.S_ISFIFO(mode) or stat.S_ISREG(mode)):
        kind = "a symbolic link" if stat.S_ISLNK(mode) else (
            "a directory" if stat.S_ISDIR(mode) else "a special file")
        raise TrainuiError(f"{path} is {kind}, not a control channel: move it away and "
                           "run the command again")
    try:
        path.unlink()
    except OSError as exc:
        raise TrainuiError(f"cannot replace the stale control channel {path}: "
                           f"{exc.strerror or exc}") from None


def _remove_stale(path: Path) -> None:
    try:
        if stat.S_ISFIFO(path.lstat().st_mode):
            path.unlink()
    except FileNotFoundError:
        pass


def send_request(run_dir: str | os.PathLike[str], request: str,
                 value: float | None = None) -> None:
    """Send one request (with its value, for VALUE_REQUESTS) to the process training in
    `run_dir`, or raise TrainuiError."""
    if value is not None and request in VALUE_REQUESTS:
        request = f"{request} {float(value)!r}"
    elif request not in REQUESTS:
        raise TrainuiError(f"unknown request {request!r} (choose from "
                           f"{', '.join([*REQUESTS, *VALUE_REQUESTS])})")
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
        _write_whole(fd, b"\n" + request.encode("ascii") + b"\n", run_dir)
    finally:
        os.close(fd)


def _write_whole(fd: int, message: bytes, run_dir: str | os.PathLike[str]) -> None:
    """One write (atomic: below PIPE_BUF), retried while a full pipe drains."""
    deadline = time.monotonic() + SEND_PATIENCE_S
    while True:
        try:
            os.write(fd, message)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise TrainuiError(f"run {run_dir} is not taking requests "
                                   "(its control channel stays full)") from None
            time.sleep(0.01)
        except OSError as exc:
            raise TrainuiError(_open_error(run_dir, exc)) from None


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
    the channel is not its) raises TrainuiError saying why. Given the `trainer` process
    the view itself started, a stop asked for before that trainer has opened its channel
    (it is still setting up) reaches it as SIGTERM, which it takes as "save and stop".
    """

    def __init__(self, run_dir: str | os.PathLike[str], trainer: Signallable | None = None
                 ) -> None:
        self.run_dir = Path(run_dir)
        self.trainer = trainer
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

    def request_lr(self, value: float, mode: str = LR_SET) -> None:
        """Ask the trainer to set the learning rate to `value`, or multiply it by `value`
        (LR_SCALE); a value no trainer would take is a ValueError here already."""
        check_lr_request(mode, value)
        send_request(self.run_dir, "set_lr" if mode == LR_SET else "scale_lr", value)

    def request_stop(self, mode: str = STOP_AFTER_EPOCH, source: str = "watcher") -> None:
        """Ask the trainer to stop after the epoch or now."""
        try:
            self._send("stop_now" if mode == STOP_NOW else "stop_epoch")
        except TrainuiError:
            if self.trainer is None or self.trainer.poll() is not None:
                raise
            self.trainer.send_signal(signal.SIGTERM)  # still setting up: no channel yet


class Signallable(Protocol):
    """A process this side started (subprocess.Popen)."""

    def poll(self) -> int | None:
        """Its exit status, or None while it runs."""

    def send_signal(self, sig: int) -> None:
        """Send it a signal."""
