"""Evaluation with scikit-learn: accuracy, weighted and per-class P/R/F1, confusion matrix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from .precision import Precision


@torch.no_grad()
def predict(
    model: nn.Module,
    loader: Any,
    device: torch.device,
    precision: Precision | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return (predicted labels, true labels) for every sample of `loader`."""
    model.eval()
    predictions, targets = [], []
    for inputs, target in loader:
        inputs = inputs.to(device, non_blocking=True)
        with precision.autocast() if precision else torch.autocast(device.type, enabled=False):
            outputs = model(inputs)
        predictions.append(outputs.argmax(dim=1))
        targets.append(target)
    # One device->host copy for the whole split, not one per batch.
    predicted = torch.cat(predictions).cpu().numpy() if predictions else np.array([], dtype=int)
    true = torch.cat(targets).cpu().numpy() if targets else np.array([], dtype=int)
    return predicted, true


def classification_metrics(
    predicted: np.ndarray, true: np.ndarray, class_names: list[str]
) -> dict[str, Any]:
    """Return accuracy, weighted precision/recall/F1, per-class scores and the confusion matrix."""
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        precision_recall_fscore_support,
    )

    labels = list(range(len(class_names)))
    precision, recall, f1, _ = precision_recall_fscore_support(
        true, predicted, labels=labels, average="weighted", zero_division=0
    )
    per_p, per_r, per_f, support = precision_recall_fscore_support(
        true, predicted, labels=labels, average=None, zero_division=0
    )
    per_class = {
        name: {"precision": float(per_p[i]), "recall": float(per_r[i]),
               "f1": float(per_f[i]), "support": int(support[i])}
        for i, name in enumerate(class_names)
    }
    return {
        "accuracy": float(accuracy_score(true, predicted)) if len(true) else 0.0,
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(true, predicted, labels=labels).tolist(),
        "class_names": list(class_names),
        "samples": int(len(true)),
    }


def evaluate(
    model: nn.Module,
    loader: Any,
    device: torch.device,
    class_names: list[str],
    precision: Precision | None = None,
    gather: Callable[[Any], list[Any]] | None = None,
) -> dict[str, Any]:
    """Predict on `loader` and return `classification_metrics` for it.

    In a job of several processes, `loader` is this rank's part of the split and `gather`
    collects every rank's value: the metrics then count each sample of the split once."""
    predicted, true = predict(model, loader, device, precision)
    if gather is not None:
        parts = gather((predicted, true))
        predicted = np.concatenate([part[0] for part in parts])
        true = np.concatenate([part[1] for part in parts])
    return classification_metrics(predicted, true, class_names)
