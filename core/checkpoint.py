"""Checkpoint layout, and safe loading with clear errors (weights_only, no pickled code)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import TrainuiError

FORMAT = "trainui-checkpoint"
FORMAT_VERSION = 1


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint onto the CPU with weights_only=True, or raise TrainuiError."""
    path = Path(path)
    if not path.exists():
        raise TrainuiError(f"checkpoint not found: {path}")
    if path.is_dir():
        raise TrainuiError(f"checkpoint path is a directory, not a file: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise TrainuiError(_unpickling_message(path, exc)) from None
    except Exception as exc:  # torch.load fails on garbage with many types (KeyError too)
        raise TrainuiError(
            f"checkpoint {path} is truncated or corrupt ({_first_line(exc)})"
        ) from None
    if not isinstance(payload, dict):
        raise TrainuiError(f"checkpoint {path} holds a {type(payload).__name__}, not a dict")
    return payload


def model_state_of(payload: dict[str, Any], path: str | os.PathLike[str]) -> dict[str, Any]:
    """Return the model weights of a trainui checkpoint or of a plain state_dict file."""
    state = payload.get("model_state_dict", payload)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise TrainuiError(f"checkpoint {path} holds no model weights (no model_state_dict)")
    return state


def load_model_weights(model: nn.Module, state: dict[str, Any], path: str, model_name: str) -> None:
    """Load weights into `model`, turning key/shape mismatches into one clear line."""
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())
        if len(detail) > 200:
            detail = detail[:200] + "..."
        raise TrainuiError(
            f"checkpoint {path} does not fit model {model_name!r}: {detail}"
        ) from None


# What torch's weights-only unpickler says when a file asks it to import or call something;
# every other refusal of it (an unknown opcode, say) comes from bytes that are no pickle.
_CODE_MARKERS = (
    "Unsupported global", "is blocked", "unrecognized function", "Can only create new object",
    "Can only build",
)


def _unpickling_message(path: Path, exc: Exception) -> str:
    text = str(exc)
    if any(marker in text for marker in _CODE_MARKERS):
        return (
            f"refusing to load checkpoint {path}: it contains pickled code or objects "
            "that are not plain weights (nothing from it was run)"
        )
    cause = text.rpartition("WeightsUnpickler error:")[2]  # torch's cause, not its advice
    return f"checkpoint {path} is truncated or corrupt ({_first_line(exc, cause)})"


def _first_line(exc: Exception, text: str | None = None) -> str:
    lines = str(exc if text is None else text).strip().splitlines()
    if not lines:
        return type(exc).__name__
    return lines[0] if len(lines[0]) <= 160 else lines[0][:159] + "…"
