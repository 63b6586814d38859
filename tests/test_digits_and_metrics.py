"""The digits data set, its split and the test metrics, computed without scikit-learn, equal
what scikit-learn computes (scikit-learn is installed with trainui, so both run here)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support
from sklearn.model_selection import train_test_split

from trainui.core.digits import load_digits_arrays, stratified_split
from trainui.core.evaluation import classification_metrics


def test_digits_arrays_are_scikit_learns() -> None:
    images, labels = load_digits_arrays()
    theirs = load_digits()
    assert np.array_equal(images, theirs.images)
    assert np.array_equal(labels, theirs.target)


@pytest.mark.parametrize("trial", range(40))
def test_stratified_split_draws_what_train_test_split_draws(trial: int) -> None:
    rng = np.random.default_rng(trial)
    classes = int(rng.integers(2, 12))
    labels = np.concatenate([rng.integers(0, classes, int(rng.integers(0, 300))),
                             np.arange(classes), np.arange(classes)])
    rng.shuffle(labels)
    n_test = int(rng.integers(classes, len(labels) - classes + 1))
    seed = int(rng.integers(0, 2**31 - 1))
    train, test = train_test_split(np.arange(len(labels)), test_size=n_test, stratify=labels,
                                   random_state=seed)
    ours_train, ours_test = stratified_split(labels, n_test, seed)
    assert np.array_equal(ours_train, train)
    assert np.array_equal(ours_test, test)


def test_a_class_of_one_sample_cannot_be_split() -> None:
    with pytest.raises(ValueError):
        stratified_split(np.array([0, 0, 1, 1, 2]), 2, 0)


def sklearn_metrics(predicted: np.ndarray, true: np.ndarray, classes: int) -> dict[str, object]:
    labels = list(range(classes))
    precision, recall, f1, _ = precision_recall_fscore_support(
        true, predicted, labels=labels, average="weighted", zero_division=0)
    per = precision_recall_fscore_support(true, predicted, labels=labels, average=None,
                                          zero_division=0)
    return {
        "accuracy": float(accuracy_score(true, predicted)) if len(true) else 0.0,
        "precision": float(precision), "recall": float(recall), "f1": float(f1),
        "per_class": [tuple(float(values[i]) for values in per) for i in labels],
        "confusion_matrix": confusion_matrix(true, predicted, labels=labels).tolist(),
    }


@pytest.mark.parametrize("trial", range(60))
def test_metrics_equal_scikit_learns(trial: int) -> None:
    """Random predictions, some classes never predicted or never present, and now and then
    a test label beyond the class names: every figure equal to scikit-learn's."""
    rng = np.random.default_rng(1000 + trial)
    classes = int(rng.integers(2, 12))
    samples = int(rng.integers(1, 400))
    true = rng.integers(0, classes + (trial % 5 == 0), samples)
    predicted = np.where(rng.random(samples) < 0.7, true, rng.integers(0, classes, samples))
    predicted = np.where(predicted == trial % classes, (trial + 1) % classes, predicted)
    ours = classification_metrics(predicted, true, [str(i) for i in range(classes)])
    theirs = sklearn_metrics(predicted, true, classes)
    for key in ("accuracy", "precision", "recall", "f1", "confusion_matrix"):
        assert ours[key] == theirs[key], key
    per_class = [(c["precision"], c["recall"], c["f1"], float(c["support"]))
                 for c in ours["per_class"].values()]
    assert per_class == theirs["per_class"]
    assert ours["samples"] == samples


@pytest.mark.parametrize("true, predicted", [
    ([0, 1, -100, 2, -1, 1], [0, 1, 2, 2, 0, 0]),  # ignore-index labels
    ([0, 1, 10**9, 2], [0, 2, 1, 2]),  # a label far beyond the class names
    ([[0], [1], [2], [1]], [[0], [2], [2], [1]]),  # column vectors
    ([[0], [1], [2], [1]], [0, 2, 2, 1]),  # a column vector and a flat one
])
def test_metrics_of_odd_labels_equal_scikit_learns(true: list, predicted: list) -> None:
    ours = classification_metrics(np.array(predicted), np.array(true), ["a", "b", "c"])
    theirs = sklearn_metrics(np.ravel(predicted), np.ravel(true), 3)
    for key in ("accuracy", "precision", "recall", "f1", "confusion_matrix"):
        assert ours[key] == theirs[key], key


def test_metrics_of_an_empty_split_are_zero() -> None:
    empty = np.array([], dtype=int)
    metrics = classification_metrics(empty, empty, ["a", "b"])
    assert (metrics["accuracy"], metrics["precision"], metrics["f1"]) == (0.0, 0.0, 0.0)
    assert metrics["confusion_matrix"] == [[0, 0], [0, 0]]


def test_loading_digits_and_scoring_do_not_import_scikit_learn() -> None:
    code = ("import sys, numpy as np\n"
            "from trainui.core.data import load_dataset\n"
            "from trainui.core.evaluation import classification_metrics\n"
            "splits = load_dataset('digits', None, seed=0)\n"
            "labels = splits.test.tensors[1].numpy()\n"
            "classification_metrics(labels, labels, splits.class_names)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'scipy')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
