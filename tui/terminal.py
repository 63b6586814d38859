"""Notice when the terminal goes away (SSH drop) so training can go on without it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import sys
import termios
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importing textual here would delay the trainer's start
    from textual.app import App

CHECK_EVERY = 0.25
EXIT_GRACE_S = 1.0
"""Once the terminal is lost or SIGTERM arrives, the process ends this long after at most."""


def terminal_alive(fd: int) -> bool:
    """False once the terminal on `fd` has hung up (its ioctls then fail)."""
    try:
        termios.tcgetattr(fd)
    except (termios.error, OSError, ValueError):
        return False
    return True


class _ExitWatchdog:
    """A thread that ends the process EXIT_GRACE_S after `exit_soon`, whatever the main
    thread is doing: Textual's shutdown, or the event loop, may be stuck on a dead terminal,
    and asyncio signal handlers only run while the loop runs.

    `exit_soon` only writes a byte to a pipe, so a signal handler may call it at any point.
    """

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        self.restore: Callable[[], None] | None = None
        """Puts the terminal back (modes, main screen) before a forced exit, if it can."""
        threading.Thread(target=self._run, name="trainui-exit-watchdog", daemon=True).start()

    def exit_soon(self, code: int) -> None:
        with contextlib.suppress(OSError):
            os.write(self._write, bytes([code & 0xFF]))

    def _run(self) -> None:
        code = os.read(self._read, 1)[0]
        deadline = time.monotonic() + EXIT_GRACE_S
        while (left := deadline - time.monotonic()) > 0:
            if select.select([self._read], [], [], left)[0]:
                later = os.read(self._read, 1)[0]
                code = code or later  # a SIGTERM's 143 wins over a lost terminal's 0
        if self.restore is not None:
            with contextlib.suppress(Exception):
                self.restore()
        os._exit(code)


watchdog: _ExitWatchdog | None = None
"""The process's exit watchdog, once started."""


def start_exit_watchdog() -> _ExitWatchdog:
    """The process's exit watchdog, started on first use (never from a signal handler)."""
    global watchdog
    if watchdog is None:
        watchdog = _ExitWatchdog()
    return watchdog


def exit_soon(code: int) -> None:
    """End the process with `code` within EXIT_GRACE_S (if the watchdog was started)."""
    if watchdog is not None:
        watchdog.exit_soon(code)


def exit_on_signals(codes: dict[int, int],
                    also: Callable[[int], None] | None = None) -> None:
    """Until the app installs its own handlers: each signal in `codes` ends the process with
    its code within EXIT_GRACE_S, after `also(signal)` (e.g. passing it on to a trainer)."""
    start_exit_watchdog()

    def handler(signum: int, _frame: object) -> None:
        exit_soon(codes[signum])
        if also is not None:
            with contextlib.suppress(Exception):  # nothing may keep the exit from coming
                also(signum)

    for signum in codes:
        signal.signal(signum, handler)


def watch_terminal(
    app: App[None],
    on_lost: Callable[[], None],
    on_terminate: Callable[[], None],
    on_interrupt: Callable[[], None] | None = None,
    *,
    exit_codes: tuple[int, int] | None = None,
) -> None:
    """Call `on_lost` on SIGHUP, or when stdin's terminal stops answering; `on_terminate`
    on SIGTERM; `on_interrupt` on a SIGINT sent from outside (the keyboard's Ctrl+C arrives
    as a key in raw mode).

    With `exit_codes` (lost, terminated), SIGHUP and SIGTERM also start the exit watchdog:
    the process ends with that code within EXIT_GRACE_S, even if the app cannot close (the
    handlers are plain signal handlers, which run even while the event loop is stuck, and
    stay in force after the app has closed).

    A hung-up terminal reads as end-of-file, which the input thread would otherwise poll
    in a tight loop: the periodic check ends that quickly.
    """
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop = asyncio.get_running_loop()
        if exit_codes is None or app.is_headless:
            loop.add_signal_handler(signal.SIGHUP, on_lost)
            loop.add_signal_handler(signal.SIGTERM, on_terminate)
        else:
            start_exit_watchdog()
            lost_code, terminated_code = exit_codes
            signal.signal(signal.SIGHUP, _exit_handler(loop, lost_code, on_lost))
            signal.signal(signal.SIGTERM, _exit_handler(loop, terminated_code, on_terminate))
        if on_interrupt is not None:
            loop.add_signal_handler(signal.SIGINT, on_interrupt)
    if app.is_headless or not sys.__stdin__:
        return  # tests drive the app without a terminal
    # No isatty() test here: a terminal that already hung up is no longer a tty either.
    fd = sys.__stdin__.fileno()

    def check() -> None:
        if not terminal_alive(fd):
            on_lost()

    app.set_interval(CHECK_EVERY, check)
    check()  # it may have hung up before the app was up


def _exit_handler(
    loop: asyncio.AbstractEventLoop, code: int, callback: Callable[[], None]
) -> Callable[[int, object], None]:
    def handler(_signum: int, _frame: object) -> None:
        exit_soon(code)  # first: nothing below may block or fail before it
        with contextlib.suppress(RuntimeError):  # the loop is closed once the app is
            loop.call_soon_threadsafe(callback)

    return handler


def detach_from_terminal() -> None:
    """Point stdin, stdout and stderr at /dev/null (writes to a dead terminal fail), and
    ignore further hang-ups."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError):
            os.dup2(null, fd)
    os.close(null)
