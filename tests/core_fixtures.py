"""Shared helpers for core tests: small digits loaders, an event recorder, a full disk."""

from __future__ import annotations

import errno
import os
from functools import lru_cache
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from trainui.core.data import DataSplits, load_dataset
from trainui.core.events import Event
from trainui.core.files import FileWriter


@lru_cache(maxsize=1)
def digits() -> DataSplits:
    """The embedded digits splits (loaded once per test session)."""
    return load_dataset("digits", None)


def digits_loaders(
    batch_size: int = 64, seed: int = 0
) -> tuple[DataLoader, DataLoader, DataLoader]:
    """Seeded train/val/test loaders over digits."""
    data = digits()
    order = torch.Generator().manual_seed(seed)
    return (
        DataLoader(data.train, batch_size=batch_size, shuffle=True, generator=order),
        DataLoader(data.val, batch_size=256),
        DataLoader(data.test, batch_size=256),
    )


class Recorder:
    """A sink that keeps every event."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, cls: type) -> list:
        """Events of one type, in order."""
        return [e for e in self.events if isinstance(e, cls)]


class FullDisk(FileWriter):
    """A disk that takes `room` files, then is full (ENOSPC)."""

    def __init__(self, root: Path, room: int) -> None:
        super().__init__(root)
        self.room = room

    def write_bytes(self, relative: str, data: bytes) -> Path:
        if self.room == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= 1
        return super().write_bytes(relative, data)
