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
    """Return accuracy, weighted precision/recall/F1, per-class scores and the confusion matrix.

    The scores are scikit-learn's (`precision_recall_fscore_support` with
    `average="weighted"` and `zero_division=0`), computed from the confusion matrix with
    NumPy so that evaluating does not import scikit-learn (tests compare the two). Where
    scikit-learn raises (no samples, no class names) the scores are 0.
    """
    classes = len(class_names)
    true = np.asarray(true).ravel().astype(np.int64)
    predicted = np.asarray(predicted).ravel().astype(np.int64)
    # A label outside the class names (a test label the training set lacks, an ignore
    # index such as -100) is left out of the matrix but, as in scikit-learn, a prediction
    # of a class for it still counts against that class: such labels share one extra bin.
    def binned(labels: np.ndarray) -> np.ndarray:
        return np.where((labels >= 0) & (labels < classes), labels, classes)

    def count(labels: np.ndarray) -> np.ndarray:
        return np.bincount(labels, minlength=classes + 1)[:classes]

    true_bin, predicted_bin = binned(true), binned(predicted)
    hits = count(true_bin[true == predicted]).astype(np.float64)
    support, predicted_count = count(true_bin), count(predicted_bin)
    known = (true_bin < classes) & (predicted_bin < classes)
    matrix = np.bincount(true_bin[known] * classes + predicted_bin[known],
                         minlength=classes * classes).reshape(classes, classes)
    per_p, per_r = _ratio(hits, predicted_count), _ratio(hits, support)
    per_f = _ratio(2 * hits, support + predicted_count)
    precision, recall, f1 = (_weighted(values, support) for values in (per_p, per_r, per_f))
    per_class = {
        name: {"precision": float(per_p[i]), "recall": float(per_r[i]),
               "f1": float(per_f[i]), "support": int(support[i])}
        for i, name in enumerate(class_names)
    }
    return {
        "accuracy": float(np.mean(true == predicted)) if len(true) else 0.0,
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
        "class_names": list(class_names),
        "samples": int(len(true)),
    }


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0."""
    safe = np.where(denominator == 0, 1, denominator)
    return np.where(denominator == 0, 0.0, numerator / safe)


def _weighted(values: np.ndarray, support: np.ndarray) -> float:
    """The average of per-class values weighted by each class's samples (0 with none)."""
    return float(np.average(values, weights=support)) if support.sum() else 0.0


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
