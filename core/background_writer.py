"""Checkpoint files written off the training thread, one snapshot at a time.

The training thread pays only for a copy of the state in host memory (`host_copy`); a
background thread serialises it once and writes each of its files with the atomic
temp+fsync+rename of `FileWriter`, so a kill at any moment leaves whole files.

Bounds and guarantees:
- At most one snapshot is held: `submit` waits until the previous one is written before
  the caller copies the next (`wait_idle`), so memory never grows with slow disks.
- Files are written in the order submitted; a file is reported (`take_written`) only once
  it is durable, and always on the thread that asks, so events stay on the training thread.
- The first error (a full disk) stops the writer: later snapshots are dropped, files
  already written stay as they were, and `check` raises the error on the training thread.
- `close` waits for the last write; it is called before a run ends, whatever the ending.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .files import FileWriter, torch_bytes


@dataclass(frozen=True)
class Written:
    """One file of a snapshot, on disk."""

    path: Path
    tag: Any
    """What the submitter attached to the file (the checkpoint's reason, say)."""


@dataclass
class _Job:
    payload: dict[str, Any]
    files: list[tuple[str, Any]]


def host_copy(obj: Any) -> Any:
    """A copy of `obj` that later training cannot change: tensors copied to host memory,
    containers rebuilt, other values (numbers, strings) shared."""
    import torch

    if isinstance(obj, torch.Tensor):
        tensor = obj.detach()
        return tensor.to("cpu", copy=True) if tensor.device.type != "cpu" else tensor.clone()
    if isinstance(obj, dict):
        return {key: host_copy(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [host_copy(value) for value in obj]
    if isinstance(obj, tuple):
        return tuple(host_copy(value) for value in obj)
    return obj


class BackgroundWriter:
    """One daemon thread writing torch snapshots under a FileWriter's root.

    With `background=False` each snapshot is written inside `submit`, on the caller's
    thread (the way to measure what the background thread saves).
    """

    def __init__(self, writer: FileWriter, *, background: bool = True) -> None:
        self.writer = writer
        self.background = background
        self._lock = threading.Condition()
        self._job: _Job | None = None
        self._writing = False
        self._done: list[Written] = []
        self._error: BaseException | None = None
        self._closed = False
        self._thread: threading.Thread | None = None

    def wait_idle(self) -> None:
        """Block until no snapshot is held (written, or dropped after an error)."""
        with self._lock:
            self._lock.wait_for(lambda: self._job is None and not self._writing)

    def submit(self, payload: dict[str, Any], files: Sequence[tuple[str, Any]]) -> None:
        """Write `payload` (already a host copy) to each `(relative name, tag)` in order.

        Waits for the previous snapshot first; raises the writer's error if it has one.
        """
        self.check()
        if not self.writer.enabled or not files:
            return
        if not self.background:
            try:
                self._write(_Job(payload, list(files)))
            except BaseException:
                self._closed = True
                raise
            return
        with self._lock:
            self._lock.wait_for(lambda: self._job is None and not self._writing)
            if self._error is not None or self._closed:
                self.check()
                return
            self._job = _Job(payload, list(files))
            self._start()
            self._lock.notify_all()

    def take_written(self) -> list[Written]:
        """Files written since the last call, in order."""
        with self._lock:
            done, self._done = self._done, []
        return done

    def check(self) -> None:
        """Raise the error that stopped the writer, once."""
        with self._lock:
            error, self._error = self._error, None
            if error is not None:
                self._closed = True  # nothing more is written after a failure
        if error is not None:
            raise error

    def close(self) -> None:
        """Wait for the snapshot being written (if any); write nothing afterwards."""
        with self._lock:
            self._lock.wait_for(lambda: self._job is None and not self._writing)
            self._closed = True
            self._lock.notify_all()

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="trainui-checkpoint-writer",
                                            daemon=True)
            self._thread.start()

    def _work(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._job is not None or self._closed)
                if self._job is None:
                    return
                job, self._writing = self._job, True
            error = None
            try:
                self._write(job)
            except BaseException as exc:  # reported on the training thread by check()
                error = exc
            with self._lock:
                self._job, self._writing = None, False
                if error is not None:
                    self._error, self._closed = error, True
                self._lock.notify_all()
                if self._closed:
                    return

    def _write(self, job: _Job) -> None:
        data = torch_bytes(job.payload)
        job.payload = {}  # the bytes are all that is needed now
        for name, tag in job.files:
            try:
                path = self.writer.write_bytes(name, data)
            except OSError as exc:
                if exc.filename is None and exc.errno is not None:  # name the file
                    raise type(exc)(exc.errno, exc.strerror,
                                    str(self.writer.path(name))) from exc
                raise
            with self._lock:
                self._done.append(Written(path, tag))
