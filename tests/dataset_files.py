"""Write tiny data set files in the real on-disk formats, so torchvision itself reads them.

Pixels and labels are random: the files exist to exercise loading, not learning.
"""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np

CIFAR10_LABEL_NAMES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]

# IDX magic numbers: two zero bytes, the element type (0x08 = unsigned byte), the rank.
_IDX_UBYTE = 0x08


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an uncompressed IDX file (big-endian header, as MNIST's)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = (_IDX_UBYTE << 8) | array.ndim  # 2049 for labels, 2051 for images
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    path.write_bytes(header + array.tobytes())


def write_mnist(
    root: Path, folder: str = "MNIST", n_train: int = 30, n_test: int = 20, seed: int = 0
) -> Path:
    """Write root/<folder>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte; return raw/.

    `folder` is torchvision's class name: "MNIST", or "FashionMNIST" for Fashion-MNIST.
    """
    rng = np.random.default_rng(seed)
    raw = Path(root) / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, count in (("train", n_train), ("t10k", n_test)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (count, 28, 28)))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, count))
    return raw


def _write_pickle(path: Path, content: dict) -> None:
    """Pickle `content` to `path` with the str keys that torchvision's CIFAR10 looks up."""
    with open(path, "wb") as file:
        pickle.dump(content, file)


def _cifar_batch(rng: np.random.Generator, count: int) -> dict:
    """One CIFAR batch: `data` rows are 3072 bytes (1024 red, 1024 green, 1024 blue)."""
    data = rng.integers(0, 256, (count, 3 * 32 * 32), dtype=np.uint8)
    return {"data": data, "labels": [int(label) for label in rng.integers(0, 10, count)]}


def write_cifar10(root: Path, n_train: int = 25, n_test: int = 10, seed: int = 0) -> Path:
    """Write root/cifar-10-batches-py/ with 5 training batches, test_batch and batches.meta.

    The `n_train` images are spread over the five training batches, as in the real set.
    Returns the batches folder.
    """
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    counts = [n_train // 5 + (1 if i < n_train % 5 else 0) for i in range(5)]
    for number, count in enumerate(counts, start=1):
        _write_pickle(folder / f"data_batch_{number}", _cifar_batch(rng, count))
    _write_pickle(folder / "test_batch", _cifar_batch(rng, n_test))
    _write_pickle(folder / "batches.meta", {"label_names": CIFAR10_LABEL_NAMES})
    return folder
