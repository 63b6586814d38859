"""Run `trainui` with its live TUI in a real pseudo-terminal and count every byte it writes.

The parent plays the terminal: it sets the window size (TIOCSWINSZ), drains the pty,
watches the run directory (history.csv rows, metrics.json) to know where training is,
samples the child's CPU time from /proc at those moments, and presses `q` when the run is
over. Nothing here imports textual or torch.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ALT_SCREEN = b"\x1b[?1049h"
CURSOR_MOVE = re.compile(rb"\x1b\[(\d+);\d+H")
POLL_SECONDS = 0.02
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Mark:
    """One moment of the run: seconds since launch, bytes so far, child CPU seconds so far."""

    seconds: float
    bytes: int
    cpu: float


@dataclass
class PtyRun:
    """What the terminal saw."""

    columns: int
    lines: int
    total_bytes: int = 0
    exit_code: int | None = None
    first_byte: float | None = None
    alt_screen: float | None = None
    first_frame: float | None = None
    started: Mark | None = None  # config.json appeared: the run directory exists
    epochs: dict[int, Mark] = field(default_factory=dict)  # history.csv reached N rows
    finished: Mark | None = None  # metrics.json appeared: test evaluation written
    exited: float | None = None
    timed_out: bool = False
    tail: bytes = b""
    bytes_by_row: dict[int, int] = field(default_factory=dict)
    """Bytes written after each cursor move to a row, from the first epoch's end to the last."""
    _row: int = 0
    chunks: list[tuple[float, bytes]] | None = None  # every read, when recording

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON."""
        hidden = ("epochs", "tail", "chunks", "_row")
        out = {k: v for k, v in self.__dict__.items() if k not in hidden}
        out["epochs"] = {str(k): v.__dict__ for k, v in sorted(self.epochs.items())}
        for key in ("started", "finished"):
            mark = getattr(self, key)
            out[key] = mark.__dict__ if mark else None
        return out


def spawn(argv: list[str], columns: int, lines: int, env: dict[str, str]) -> tuple[Any, int]:
    """Start argv on a new pty of the given size as its controlling terminal."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    env = {**env, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(lines)}

    def take_terminal() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True, preexec_fn=take_terminal, close_fds=True)
    os.close(slave)
    return proc, master


def child_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of all the child's threads so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def run_tui(argv: list[str], run_dir: Path, columns: int, lines: int, env: dict[str, str],
            *, timeout: float = 600.0, stop_after_first_frame: bool = False,
            record: bool = False, on_stop: Any = None) -> PtyRun:
    """Run the TUI until it exits (pressing q once metrics.json exists) or `timeout`.

    `on_stop(pid)` runs before waiting for the child (the start-up bench kills it there).
    """
    result = PtyRun(columns, lines, chunks=[] if record else None)
    launched = time.perf_counter()
    proc, master = spawn(argv, columns, lines, env)
    watcher = _RunWatcher(run_dir)
    quit_at: float | None = None
    try:
        while True:
            now = time.perf_counter() - launched
            if not _drain(master, result, now):
                break
            watcher.update(result, now, proc.pid)
            if stop_after_first_frame and result.first_frame is not None:
                break
            if result.finished and quit_at is None:
                quit_at = now + 1.0  # let the final report render, as a user would see it
            if quit_at is not None and now >= quit_at:
                os.write(master, b"q")  # a second q answers a quit prompt that raced the end
                quit_at = now + 2.0
            if now > timeout:
                result.timed_out = True
                break
    finally:
        result.exited = time.perf_counter() - launched
        if on_stop is not None:
            on_stop(proc.pid)
        result.exit_code = _stop(proc)
        os.close(master)
    return result


def _drain(master: int, result: PtyRun, now: float) -> bool:
    """Read what is ready; False once the child has closed the terminal."""
    ready, _, _ = select.select([master], [], [], POLL_SECONDS)
    if not ready:
        return True
    try:
        data = os.read(master, 1 << 16)
    except OSError:  # EIO: the child side is closed
        return False
    if not data:
        return False
    if result.first_byte is None:
        result.first_byte = now
    window = result.tail + data
    if result.alt_screen is None and ALT_SCREEN in window:
        result.alt_screen = now
    if result.alt_screen is not None and result.first_frame is None and (
        b"\x1b[%d;" % result.lines in window
    ):
        result.first_frame = now  # the first paint has reached the terminal's last row
    if result.epochs and result.finished is None:
        _count_rows(result, data)
    result.total_bytes += len(data)
    if result.chunks is not None:
        result.chunks.append((now, data))
    result.tail = window[-16:]
    return True


def _count_rows(result: PtyRun, data: bytes) -> None:
    """Attribute bytes to the screen row the cursor was last moved to (which panel costs)."""
    position = 0
    for move in CURSOR_MOVE.finditer(data):
        result.bytes_by_row[result._row] = (result.bytes_by_row.get(result._row, 0)
                                            + move.start() - position)
        result._row, position = int(move.group(1)), move.start()
    rest = len(data) - position
    result.bytes_by_row[result._row] = result.bytes_by_row.get(result._row, 0) + rest


class _RunWatcher:
    """Notices config.json, each new history.csv row and metrics.json in the run directory."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self._history_size = -1

    def update(self, result: PtyRun, now: float, pid: int) -> None:
        def mark() -> Mark:
            return Mark(now, result.total_bytes, child_cpu_seconds(pid))

        if result.started is None and (self.run_dir / "config.json").exists():
            result.started = mark()
        history = self.run_dir / "history.csv"
        try:
            size = history.stat().st_size
        except OSError:
            size = -1
        if size != self._history_size:
            self._history_size = size
            rows = max(0, len(history.read_text().strip().splitlines()) - 1) if size > 0 else 0
            if rows and rows not in result.epochs:
                result.epochs[rows] = mark()
        if result.finished is None and (self.run_dir / "metrics.json").exists():
            result.finished = mark()


def _stop(proc: subprocess.Popen[bytes]) -> int | None:
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return None
