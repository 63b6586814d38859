"""Checkpoint layout, and safe loading with clear errors (weights_only, no pickled code)."""

from __future__ import annotations

import os
import pickle
import zipfile
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
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as exc:
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


def _unpickling_message(path: Path, exc: Exception) -> str:
    text = str(exc)
    if "Weights only load failed" in text or "Unsupported global" in text:
        return (
            f"refusing to load checkpoint {path}: it contains pickled code or objects "
            "that are not plain weights (nothing from it was run)"
        )
    return f"checkpoint {path} is truncated or corrupt ({_first_line(exc)})"


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else type(exc).__name__
