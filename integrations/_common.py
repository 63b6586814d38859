"""What the Lightning and Hugging Face callbacks share: picking scalars, predicting a split."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch

import trainui

Predict = Callable[[Any, Any], tuple[Any, Any]]
"""`predict(model, batch) -> (labels, scores or labels)`: how a batch is scored."""

class RunHolder:
    """What both callbacks keep: the options for `trainui.init`, how to score the
    evaluation data at the end, and the run (on the main process once training started)."""

    def __init__(self, *, run_dir: str | os.PathLike[str] | None, root: str | os.PathLike[str],
                 name: str | None, config: dict[str, Any] | None,
                 class_names: Sequence[str] | None, evaluate: bool, predict: Predict,
                 progress_interval: float) -> None:
        self.options = {"run_dir": run_dir, "root": root, "name": name,
                        "class_names": class_names, "progress_interval": progress_interval}
        """Keywords for `trainui.init`."""
        self.config = config
        self.evaluate = evaluate
        self.predict = predict
        self.run: trainui.Run | None = None
        """The trainui run, on the main process once training started."""

    def open_run(self) -> trainui.Run | None:
        """The run, while it is open (a finished one belongs to an earlier fit)."""
        run = self.run
        return run if run is not None and not run.finished else None


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
