"""scikit-learn's digits data set and its stratified split, read without importing scikit-learn.

Importing scikit-learn costs a trainer about 1.3 s of its start (it loads SciPy); the data
set is one gzipped CSV file inside the installed package, and the split is a few lines of
NumPy. `stratified_split` draws exactly what scikit-learn's
`train_test_split(..., stratify=labels, random_state=seed)` draws (tests compare the two),
so runs keep the samples they were split into before.
"""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np

from .errors import TrainuiError


def digits_file() -> Path:
    """Where the installed scikit-learn keeps digits.csv.gz (its package is not imported)."""
    spec = importlib.util.find_spec("sklearn")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            return path
    raise TrainuiError("the digits data set ships with scikit-learn, which is not installed "
                       "or lacks datasets/data/digits.csv.gz (pip install scikit-learn)")


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The 1797 images (float64, shape (1797, 8, 8), values 0..16) and their labels (int)."""
    with gzip.open(digits_file(), "rt", encoding="utf-8") as handle:
        data = np.loadtxt(handle, delimiter=",")
    return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int)


def stratified_split(labels: np.ndarray, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions into `labels` for a train part and a test part of `n_test` samples, each
    class in proportion; the same draw as scikit-learn's StratifiedShuffleSplit."""
    n_train = len(labels) - n_test
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if counts.min() < 2 or min(n_train, n_test) < len(classes):
        raise ValueError("too few samples per class for a stratified split")
    by_class = np.split(np.argsort(inverse, kind="stable"), np.cumsum(counts)[:-1])
    rng = np.random.RandomState(seed)
    train_counts = _approximate_mode(counts, n_train, rng)
    test_counts = _approximate_mode(counts - train_counts, n_test, rng)
    train: list[int] = []
    test: list[int] = []
    for i in range(len(classes)):
        members = by_class[i].take(rng.permutation(counts[i]), mode="clip")
        train.extend(members[: train_counts[i]])
        test.extend(members[train_counts[i]: train_counts[i] + test_counts[i]])
    return rng.permutation(train), rng.permutation(test)


def _approximate_mode(counts: np.ndarray, draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of `draws` samples each class gets: the floor of its share, then one more
    for the largest remainders, ties broken at random."""
    continuous = counts / counts.sum() * draws
    floored = np.floor(continuous)
    missing = int(draws - floored.sum())
    if missing > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (tied,) = np.where(remainder == value)
            now = min(len(tied), missing)
            floored[rng.choice(tied, size=now, replace=False)] += 1
            missing -= now
            if missing == 0:
                break
    return floored.astype(int)
