"""Small files kept current off the training thread (summary.json, history.csv).

A run rewrites these after epochs and state changes; serialising and the atomic
temp+fsync+rename of `FileWriter` cost a few milliseconds each time, which the training
thread no longer pays. Only the newest content of each file matters, so a file queued again
before its previous content was written replaces it (memory stays one copy per file).

Guarantees: every write is atomic (a kill at any moment leaves the old file or the new one);
`flush` returns once everything queued is on disk; the first error (a full disk) is raised
on the caller's thread by the next `put`, `flush` or `close`, and nothing more is written.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from .files import FileWriter

Content = Callable[[], bytes]
"""Makes a file's bytes; called on the writing thread, so it must only read data that the
caller does not change afterwards (a snapshot)."""


class QueuedFiles:
    """One daemon thread writing the latest content queued for each file under a root.

    With `background=False` each file is written inside `put`, on the caller's thread.
    """

    def __init__(self, writer: FileWriter, *, background: bool = True,
                 name: str = "trainui-file-writer") -> None:
        self.writer = writer
        self.background = background
        self.name = name
        self._lock = threading.Condition()
        self._pending: dict[str, Content] = {}
        self._writing = False
        self._error: BaseException | None = None
        self._failed = False
        self._closed = False
        self._thread: threading.Thread | None = None

    def put(self, relative: str, content: Content) -> None:
        """Queue `content` for `root/relative`, replacing content not yet written."""
        self._raise_error()
        if not self.writer.enabled or self._failed:
            return
        if not self.background:
            self._write(relative, content)
            return
        with self._lock:
            self._pending[relative] = content
            self._closed = False
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                self._thread.start()
            self._lock.notify_all()

    def flush(self) -> None:
        """Wait until everything queued is written; raise the writer's error, if any."""
        with self._lock:
            self._lock.wait_for(lambda: not self._pending and not self._writing)
        self._raise_error()

    def close(self) -> None:
        """Wait for the last write and let the thread end (a later `put` starts another)."""
        with self._lock:
            self._lock.wait_for(lambda: not self._pending and not self._writing)
            self._closed = True
            self._lock.notify_all()
        self._raise_error()

    def _raise_error(self) -> None:
        with self._lock:
            error, self._error = self._error, None
        if error is not None:
            raise error

    def _work(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(lambda: bool(self._pending) or self._closed)
                if not self._pending:
                    self._thread = None
                    return
                relative = next(iter(self._pending))
                content = self._pending.pop(relative)
                self._writing = True
            try:
                self._write(relative, content)
            except BaseException as exc:  # raised on the caller's thread by _raise_error
                with self._lock:
                    self._error, self._failed = exc, True
                    self._pending.clear()
            finally:
                with self._lock:
                    self._writing = False
                    self._lock.notify_all()

    def _write(self, relative: str, content: Content) -> None:
        try:
            self.writer.write_bytes(relative, content())
        except OSError as exc:
            self._failed = True
            if exc.filename is None and exc.errno is not None:  # name the file
                raise type(exc)(exc.errno, exc.strerror, str(self.writer.path(relative))) from exc
            raise
