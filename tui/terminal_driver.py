"""Textual's Linux driver, made safe for a terminal that goes away (an SSH drop)."""

from __future__ import annotations

import contextlib
import errno
import os
import select
import termios
from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.drivers.linux_driver import LinuxDriver

from . import terminal

_RESET = "\x1b[<u\x1b[?1049l\x1b[?25h\x1b[?1004l\x1b[?1000l\x1b[?1003l\x1b[?1015l\x1b[?1006l" \
    "\x1b[?2004l\x1b[?7h"
"""What Textual's stop_application_mode writes: main screen, cursor, no mouse or paste modes."""


_GONE = (errno.EIO, errno.ENXIO, errno.EPIPE, errno.EBADF)


class _TerminalOutput:
    """The file Textual's writer thread writes to; it never raises. Otherwise the writer
    thread dies on the first error (EIO once the terminal has hung up), its bounded queue
    fills, and the next write, or the shutdown's `WriterThread.stop`, blocks forever.
    Once the terminal is gone, output is dropped."""

    def __init__(self, file: Any) -> None:
        self._file = file
        self.broken = False

    def write(self, text: str) -> None:
        self._call(self._file.write, text)

    def flush(self) -> None:
        self._call(self._file.flush)

    def _call(self, method: Callable[..., object], *args: object) -> None:
        if self.broken:
            return
        try:
            method(*args)
        except ValueError:  # closed
            self.broken = True
        except OSError as exc:  # anything else: this piece is lost, the next one may pass
            self.broken = exc.errno in _GONE

    def fileno(self) -> int:
        return int(self._file.fileno())


class TerminalDriver(LinuxDriver):
    """Textual's LinuxDriver, safe when the terminal goes away.

    - Textual restarts application mode on every SIGCONT. A hang-up sends SIGHUP *and*
      SIGCONT, so it started a second writer thread on the dead terminal (which died on the
      first write) and stranded the first one: the shutdown then blocked forever putting its
      stop marker into the dead thread's full queue. Here only a SIGCONT that follows
      Textual's own suspend (Ctrl+Z) resumes.
    - Output to a terminal that fails is dropped (see _TerminalOutput).
    """

    def __init__(self, app: App[Any], **kwargs: Any) -> None:
        self._suspended = False
        self._restored = False
        super().__init__(app, **kwargs)
        self._output = _TerminalOutput(self._file)
        self._file = self._output  # type: ignore[assignment]  # what the writer thread uses

    def _sigtstp_application(self, *args: Any) -> None:
        self._suspended = self._auto_restart
        super()._sigtstp_application(*args)

    def _sigcont_application(self, *args: Any) -> None:
        if self._suspended:
            self._suspended = False
            super()._sigcont_application(*args)

    def start_application_mode(self) -> None:
        super().start_application_mode()
        self._restored = False
        if terminal.watchdog is not None:
            terminal.watchdog.restore = self._restore_terminal

    def stop_application_mode(self) -> None:
        super().stop_application_mode()
        self._restored = True

    def _restore_terminal(self) -> None:
        """Best effort, from the watchdog: never blocks on a terminal that does not read."""
        if self._restored:
            return
        if self.attrs_before is not None:
            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(self.fileno, termios.TCSANOW, self.attrs_before)
        with contextlib.suppress(OSError, ValueError):
            fd = self._output.fileno()
            if select.select([], [fd], [], 0)[1]:
                os.write(fd, _RESET.encode())
