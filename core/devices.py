"""Pick the torch device: `auto` takes the best one present; explicit requests must exist."""

from __future__ import annotations

import re

import torch

from .errors import TrainuiError

_DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def resolve_device(name: str) -> torch.device:
    """Return the device for `auto`, `cpu`, `cuda`, `cuda:N` or `mps`, or raise TrainuiError."""
    if not _DEVICE_PATTERN.match(name):
        raise TrainuiError(f"unknown device {name!r} (choose from auto, cpu, cuda, cuda:N, mps)")
    if name == "auto":
        return _best_device()
    if name.startswith("cuda"):
        return _cuda_device(name)
    if name == "mps" and not _mps_available():
        raise TrainuiError("device 'mps' requested but MPS is not available on this machine")
    return torch.device(name)


def _best_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _cuda_device(name: str) -> torch.device:
    if not torch.cuda.is_available():
        raise TrainuiError(f"device {name!r} requested but CUDA is not available on this machine")
    device = torch.device(name)
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise TrainuiError(f"device {name!r} requested but only {count} CUDA device(s) exist")
    return device


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())
