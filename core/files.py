"""The one place that writes files: atomic writes, switchable off for non-main processes."""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .errors import TrainuiError


class FileWriter:
    """Writes files under `root` atomically (temp file in the same folder, fsync, rename).

    A reader, or a process killed mid-write, sees either the old file or the new one, never
    a partial file. `enabled=False` turns every write into a no-op (non-main processes).
    """

    def __init__(self, root: str | os.PathLike[str], *, enabled: bool = True) -> None:
        self.root = Path(root)
        self.enabled = enabled

    def path(self, relative: str) -> Path:
        """Return the absolute-ish path of a file under the root."""
        return self.root / relative

    def write_bytes(self, relative: str, data: bytes) -> Path:
        """Atomically replace `root/relative` with `data`; return its path."""
        target = self.path(relative)
        if self.enabled:
            _atomic_write(target, data)
        return target

    def write_text(self, relative: str, text: str) -> Path:
        """Atomically write UTF-8 text."""
        return self.write_bytes(relative, text.encode("utf-8"))

    def write_json(self, relative: str, obj: Any) -> Path:
        """Atomically write `obj` as indented JSON."""
        return self.write_text(relative, json.dumps(obj, indent=2, allow_nan=True) + "\n")

    def save_torch(self, relative: str, obj: Any) -> Path:
        """Atomically write `obj` with torch.save."""
        return self.write_bytes(relative, torch_bytes(obj))


def check_writable(path: Path) -> None:
    """Raise TrainuiError unless a file can be written at the user-named `path`.

    Checked before long work, so a typo does not cost an evaluation; the folder must exist.
    """
    folder = path.parent
    try:
        if path.is_dir():
            raise TrainuiError(f"cannot write {path}: it is a directory")
        if not folder.is_dir():
            raise TrainuiError(f"cannot write {path}: no such directory {folder}")
    except PermissionError:
        raise TrainuiError(f"cannot write {path}: permission denied") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise TrainuiError(f"cannot write {path}: {folder} is not writable")


def write_json_file(path: Path, obj: Any) -> None:
    """Atomically write `obj` as JSON to the user-named `path`, or raise TrainuiError."""
    check_writable(path)
    try:
        FileWriter(path.parent).write_json(path.name, obj)
    except OSError as exc:
        raise TrainuiError(f"cannot write {path}: {exc.strerror or exc}") from None


def torch_bytes(obj: Any) -> bytes:
    """`obj` serialised by torch.save, so one payload can go to several files."""
    import torch  # here, so that run-directory tools start without loading torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _atomic_write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        _remove_quietly(tmp_name)
        raise
    _fsync_dir(target.parent)


def _remove_quietly(name: str) -> None:
    try:
        os.unlink(name)
    except OSError:
        pass


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
