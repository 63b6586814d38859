"""What the Lightning and Hugging Face callbacks share: picking scalars, predicting a split."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

SKIPPED = ("epoch", "step", "global_step")
"""Counters some frameworks report among metrics: trainui tracks them itself."""


def scalars(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of `metrics` that are one number (a float, an int, a 0-d tensor)."""
    kept: dict[str, Any] = {}
    for name, value in metrics.items():
        if name in SKIPPED or isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            kept[name] = float(value)
        elif isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_complex():
            kept[name] = value.detach()
    return kept


def predict_split(model: torch.nn.Module, loader: Iterable[Any],
                  step: Callable[[torch.nn.Module, Any], tuple[Any, Any]]
                  ) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(true labels, predicted labels) over `loader`, `step(model, batch)` giving each
    batch's (labels, scores or labels); None, with a warning, when the batches do not fit
    that convention."""
    truths, predictions = [], []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in loader:
                true, predicted = step(model, batch)
                if predicted.ndim == 2:
                    predicted = predicted.argmax(dim=1)
                truths.append(true.detach().reshape(-1))
                predictions.append(predicted.detach().reshape(-1))
    except Exception as exc:  # a convention that does not fit: no confusion matrix, no failure
        warnings.warn(f"trainui: no confusion matrix: {type(exc).__name__}: {exc}",
                      RuntimeWarning, stacklevel=3)
        return None
    finally:
        model.train(was_training)
    if not truths:
        return None
    # One device->host copy per split, at the end of the run.
    return torch.cat(truths).cpu(), torch.cat(predictions).cpu()


def to_device(value: Any, device: torch.device) -> Any:
    """Tensors in `value` (nested lists, tuples, dicts) moved to `device`."""
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, Mapping):
        return {key: to_device(item, device) for key, item in value.items()}
    if isinstance(value, list):
        return [to_device(item, device) for item in value]
    if isinstance(value, tuple):
        return tuple(to_device(item, device) for item in value)
    return value
