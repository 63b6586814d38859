"""Notice when the terminal goes away (SSH drop) so training can go on without it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import termios
from collections.abc import Callable

from textual.app import App

CHECK_EVERY = 1.0


def terminal_alive(fd: int) -> bool:
    """False once the terminal on `fd` has hung up (its ioctls then fail)."""
    try:
        termios.tcgetattr(fd)
    except (termios.error, OSError, ValueError):
        return False
    return True


def watch_terminal(
    app: App[None],
    on_lost: Callable[[], None],
    on_terminate: Callable[[], None],
    on_interrupt: Callable[[], None] | None = None,
) -> None:
    """Call `on_lost` on SIGHUP, or when stdin's terminal stops answering; `on_terminate`
    on SIGTERM; `on_interrupt` on a SIGINT sent from outside (the keyboard's Ctrl+C arrives
    as a key in raw mode).

    A hung-up terminal reads as end-of-file, which the input thread would otherwise poll
    in a tight loop: the periodic check ends that within a second.
    """
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, on_lost)
        loop.add_signal_handler(signal.SIGTERM, on_terminate)
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


def detach_from_terminal() -> None:
    """Point stdin, stdout and stderr at /dev/null (writes to a dead terminal fail), and
    ignore further hang-ups."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        with contextlib.suppress(OSError):
            os.dup2(null, fd)
    os.close(null)
