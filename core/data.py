"""Load a data set as train/val/test splits whose items are `(float32 tensor, int label)`.

Built-in names: ``digits`` (scikit-learn's 8x8 digits, bundled with it, no download), and
``mnist``, ``fashion-mnist`` and ``cifar10`` (torchvision, read from ``--data-dir``).

Your own data set: pass ``package.module:factory``. trainui imports the module and calls::

    factory(data_dir: pathlib.Path | None, seed: int)

``data_dir`` is the ``--data-dir`` path (None when not given) and ``seed`` the run's seed.
The factory returns either a ``trainui.core.data.DataSplits``, or a tuple
``(train, val, test)`` or ``(train, val, test, class_names)`` of map-style datasets
(``len(ds)`` and ``ds[i]``) whose items are ``(tensor, int label)`` pairs, labels counting
from 0. Without ``class_names`` trainui uses ``train.classes`` when the training set has it,
else names the classes "0", "1", ... up to the largest training label. The input shape is
that of the first training item.
"""

from __future__ import annotations

import functools
import numbers
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, IterableDataset, Sampler, Subset, TensorDataset

from .errors import TrainuiError, one_line
from .factories import call_factory, import_factory, is_factory_spec

BUILTIN_DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10")

# Built-in splits never depend on the run's seed: runs trained with different seeds are
# then scored on the very same validation and test samples, so their numbers compare.
_SPLIT_SEED = 1234

_CHOICES = "digits, mnist, fashion-mnist, cifar10, or package.module:factory"
_FACTORY_RETURNS = "a DataSplits, or a tuple (train, val, test) or (train, val, test, class_names)"


@dataclass
class DataSplits:
    """A data set cut into train, validation and test splits, with what a model must know."""

    name: str
    train: Dataset
    val: Dataset
    test: Dataset
    class_names: list[str]
    input_shape: tuple[int, ...]

    @property
    def num_classes(self) -> int:
        """How many classes the labels index, which is the model's output size."""
        return len(self.class_names)


def load_dataset(
    name: str,
    data_dir: str | os.PathLike[str] | None,
    *,
    download: bool = False,
    seed: int = 0,
    val_fraction: float = 0.1,
) -> DataSplits:
    """Load a built-in data set by name, or call a user's `package.module:factory`.

    `seed` only reaches user factories: built-in splits are fixed. `val_fraction` is the
    share of torchvision's training split held out for validation; digits always splits
    70% / 15% / 15%. Bad input raises TrainuiError with a one-line message.
    """
    if is_factory_spec(name):
        return _load_from_factory(name, data_dir, seed)
    key = name.lower()
    if key == "digits":
        return _load_digits()
    if key in _VISION_SETS:
        return _load_vision(key, _VISION_SETS[key], data_dir, download, val_fraction)
    raise TrainuiError(f"unknown data set {name!r} (choose from {_CHOICES})")


class ShardSampler(Sampler[int]):
    """One rank's part of an evaluation split: every `size`-th sample from `rank`, in
    order. Unlike DistributedSampler it pads nothing, so the ranks' parts together hold
    each sample exactly once (their lengths may differ by one)."""

    def __init__(self, length: int, rank: int, size: int) -> None:
        self.indices = range(rank, length, size)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


# --- digits ---------------------------------------------------------------------------


class _LabelledTensors(TensorDataset):
    """A TensorDataset of (inputs, labels) whose items carry the label as a Python int."""

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:  # type: ignore[override]
        inputs, labels = self.tensors
        return inputs[index], int(labels[index])


def _load_digits() -> DataSplits:
    """scikit-learn's 1797 8x8 digits, normalised with the training split's mean and std."""
    from .digits import load_digits_arrays

    raw_images, raw_labels = load_digits_arrays()
    images = torch.tensor(raw_images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(raw_labels, dtype=torch.int64)
    train_idx, val_idx, test_idx = _stratified_split(labels, val_share=0.15, test_share=0.15)
    mean, std = images[train_idx].mean(), images[train_idx].std()

    def split(indices: torch.Tensor) -> _LabelledTensors:
        return _LabelledTensors((images[indices] - mean) / std, labels[indices])

    class_names = [str(digit) for digit in range(10)]
    return DataSplits(
        "digits", split(train_idx), split(val_idx), split(test_idx), class_names, (1, 8, 8)
    )


def _stratified_split(
    labels: torch.Tensor, *, val_share: float, test_share: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split sample indices into train/val/test, each keeping the classes' proportions."""
    from .digits import stratified_split

    targets = labels.numpy()
    n_test, n_val = round(test_share * len(targets)), round(val_share * len(targets))
    rest, test = stratified_split(targets, n_test, _SPLIT_SEED)
    train_part, val_part = stratified_split(targets[rest], n_val, _SPLIT_SEED)
    train, val = rest[train_part], rest[val_part]
    return torch.tensor(train), torch.tensor(val), torch.tensor(test)


# --- torchvision data sets ------------------------------------------------------------


@dataclass(frozen=True)
class _VisionSet:
    """Where one torchvision data set lives under the data directory, and how to load it."""

    title: str  # as the data set's authors spell it, for messages
    class_name: str  # in torchvision.datasets
    folder: str  # relative to the data directory
    files: tuple[str, ...]  # that torchvision reads from `folder`
    mean: tuple[float, ...]  # per channel, over the training images scaled to [0, 1]
    std: tuple[float, ...]
    input_shape: tuple[int, ...]


_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_CIFAR10_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")

_VISION_SETS = {
    "mnist": _VisionSet(
        "MNIST", "MNIST", "MNIST/raw", _MNIST_FILES, (0.1307,), (0.3081,), (1, 28, 28)
    ),
    "fashion-mnist": _VisionSet(
        "Fashion-MNIST",
        "FashionMNIST",
        "FashionMNIST/raw",
        _MNIST_FILES,
        (0.2860,),
        (0.3530,),
        (1, 28, 28),
    ),
    "cifar10": _VisionSet(
        "CIFAR-10",
        "CIFAR10",
        "cifar-10-batches-py",
        _CIFAR10_FILES,
        (0.4914, 0.4822, 0.4465),
        (0.2470, 0.2435, 0.2616),
        (3, 32, 32),
    ),
}


def _load_vision(
    name: str,
    spec: _VisionSet,
    data_dir: str | os.PathLike[str] | None,
    download: bool,
    val_fraction: float,
) -> DataSplits:
    """Load a torchvision set: its train split becomes train + val, its test split test."""
    if not 0 < val_fraction < 1:
        raise TrainuiError(f"validation fraction must be between 0 and 1, got {val_fraction}")
    root = _data_root(spec, data_dir, download)
    if not download:
        _require_files(spec, root)
    transform = _normalising_transform(spec)
    full_train = _open(spec, root, train=True, transform=transform, download=download)
    # The first call downloaded whatever was missing.
    test = _open(spec, root, train=False, transform=transform, download=False)
    train, val = _hold_out(full_train, val_fraction)
    class_names = [str(c) for c in full_train.classes]
    return DataSplits(name, train, val, test, class_names, spec.input_shape)


def _data_root(spec: _VisionSet, data_dir: str | os.PathLike[str] | None, download: bool) -> Path:
    """The data directory as a Path; created when downloading, else it must exist."""
    if data_dir is None:
        raise TrainuiError(
            f"{spec.title} needs a data directory: pass --data-dir DIR "
            f"(add --download to fetch {spec.title} into it)"
        )
    root = Path(data_dir).expanduser()
    if not download:
        if not root.is_dir():
            raise TrainuiError(
                f"data directory not found: {root} "
                f"(pass --data-dir, or --download to fetch {spec.title} into it)"
            )
        return root
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrainuiError(f"cannot create data directory {root}: {one_line(exc)}") from None
    return root


def _missing_files(spec: _VisionSet, root: Path) -> list[str]:
    """The data set's files absent from where torchvision looks for them."""
    return [name for name in spec.files if not (root / spec.folder / name).is_file()]


def _require_files(spec: _VisionSet, root: Path) -> None:
    """Fail with the folder and the missing file names unless every file is there."""
    missing = _missing_files(spec, root)
    if missing:
        raise TrainuiError(
            f"{spec.title} not found in {root / spec.folder} (missing {', '.join(missing)}); "
            f"pass --download to fetch it into {root}"
        )


def _normalising_transform(spec: _VisionSet) -> Callable[[Any], torch.Tensor]:
    """PIL image -> float tensor in [0, 1] -> normalised with the data set's constants."""
    from torchvision import transforms

    return transforms.Compose([transforms.ToTensor(), transforms.Normalize(spec.mean, spec.std)])


def _open(
    spec: _VisionSet, root: Path, *, train: bool, transform: Callable[..., Any], download: bool
) -> Any:
    """Construct the torchvision dataset, turning its many failure types into one message."""
    dataset_class = _torchvision_class(spec.class_name)
    try:
        dataset = dataset_class(root, train=train, transform=transform, download=download)
    except Exception as exc:  # torchvision raises all sorts for bad files and failed downloads
        raise _open_error(spec, root, download, one_line(exc)) from None
    if len(dataset.data) == 0:
        raise _open_error(spec, root, download, "no images")
    if len(dataset.data) != len(dataset.targets):
        cause = f"{len(dataset.data)} images but {len(dataset.targets)} labels"
        raise _open_error(spec, root, download, cause)
    return dataset


def _open_error(spec: _VisionSet, root: Path, download: bool, cause: str) -> TrainuiError:
    """The error for a data set that would not load: a failed download, or corrupt files."""
    if download and _missing_files(spec, root):
        return TrainuiError(f"downloading {spec.title} into {root} failed: {cause}")
    return TrainuiError(
        f"{spec.title} files in {root / spec.folder} are corrupt ({cause}); "
        "delete them and rerun with --download"
    )


def _torchvision_class(class_name: str) -> Callable[..., Any]:
    """The torchvision dataset class to construct; imported here to keep imports fast."""
    if class_name == "CIFAR10":
        return _cifar10_class()
    import torchvision.datasets

    return getattr(torchvision.datasets, class_name)


@functools.cache
def _cifar10_class() -> type:
    """torchvision's CIFAR10 that, unless downloading, only checks its files are present."""
    from torchvision.datasets import CIFAR10

    class PresentFilesCIFAR10(CIFAR10):
        # Stock CIFAR10 md5-hashes all 170 MB of batches on every construction (train and
        # test: twice a run), which is slow, and it rejects the tiny real-format files tests
        # write. Files on disk that fail to unpickle still give a clear error; a download
        # keeps the md5 check, since that is when a truncated or wrong file turns up.
        def __init__(self, root: Path, *, train: bool, transform: Any, download: bool):
            self.verify_md5 = download  # before super().__init__, which checks the files
            if not download:  # _load_meta hashes batches.meta too
                self.meta = {**CIFAR10.meta, "md5": None}
            super().__init__(root, train=train, transform=transform, download=download)

        def _check_integrity(self) -> bool:
            if self.verify_md5:
                return super()._check_integrity()
            folder = Path(self.root, self.base_folder)
            return all((folder / name).is_file() for name, _ in self.train_list + self.test_list)

    return PresentFilesCIFAR10


def _hold_out(full_train: Dataset, val_fraction: float) -> tuple[Subset, Subset]:
    """Split a fixed random `val_fraction` of `full_train` off for validation."""
    size = len(full_train)  # type: ignore[arg-type]
    generator = torch.Generator().manual_seed(_SPLIT_SEED)
    order = torch.randperm(size, generator=generator).tolist()
    n_val = min(max(1, round(size * val_fraction)), size - 1)
    return Subset(full_train, order[n_val:]), Subset(full_train, order[:n_val])


# --- user factories -------------------------------------------------------------------


def _load_from_factory(spec: str, data_dir: str | os.PathLike[str] | None, seed: int) -> DataSplits:
    """Call the user's factory and check that what it returned keeps the contract."""
    factory = import_factory(spec, "data set")
    path = None if data_dir is None else Path(data_dir).expanduser()
    result = call_factory(factory, spec, "data set", path, seed)
    if isinstance(result, DataSplits):
        return result
    train, val, test, class_names = _unpack(spec, result)
    for split_name, split in (("train", train), ("val", val), ("test", test)):
        _require_map_style(spec, split_name, split)
    input_shape = _first_input_shape(spec, train)
    names = _class_names(spec, train, class_names)
    return DataSplits(spec, train, val, test, names, input_shape)


def _describe(value: Any) -> str:
    """A short description of a value for messages: None, 'a tuple of 2 items', 'an int'."""
    if value is None:
        return "None"
    if isinstance(value, tuple):
        return f"a tuple of {len(value)} items"
    type_name = type(value).__name__
    return f"{'an' if type_name[0] in 'aeiouAEIOU' else 'a'} {type_name}"


def _unpack(spec: str, result: Any) -> tuple[Any, Any, Any, Any]:
    """(train, val, test, class_names or None) from a 3- or 4-tuple."""
    if not isinstance(result, tuple) or len(result) not in (3, 4):
        raise TrainuiError(
            f"data set {spec!r} returned {_describe(result)}; expected {_FACTORY_RETURNS}"
        )
    train, val, test, *rest = result
    return train, val, test, rest[0] if rest else None


def _require_map_style(spec: str, split_name: str, split: Any) -> None:
    """Fail unless `split` supports len() and indexing, as the trainer's loaders need."""
    has_methods = hasattr(split, "__len__") and hasattr(split, "__getitem__")
    if isinstance(split, IterableDataset) or not has_methods:
        raise TrainuiError(
            f"data set {spec!r}: {split_name} is {_describe(split)}, "
            "expected a map-style dataset (with __len__ and __getitem__)"
        )


def _is_int_like(label: Any) -> bool:
    """True for Python and NumPy integers and one-element integer tensors."""
    if isinstance(label, torch.Tensor):
        return label.numel() == 1 and not label.is_floating_point() and not label.is_complex()
    return isinstance(label, numbers.Integral)


def _first_input_shape(spec: str, train: Any) -> tuple[int, ...]:
    """The shape of the first training input, after checking the item is (tensor, int)."""
    try:
        item = train[0] if len(train) > 0 else None
    except Exception as exc:  # the user's dataset code failed
        raise TrainuiError(
            f"data set {spec!r}: reading training item 0 failed: {one_line(exc)}"
        ) from None
    if item is None:
        raise TrainuiError(f"data set {spec!r}: the training set is empty")
    is_pair = isinstance(item, (tuple, list)) and len(item) == 2
    if not (is_pair and isinstance(item[0], torch.Tensor) and _is_int_like(item[1])):
        got = f"({', '.join(type(part).__name__ for part in item)})" if is_pair else _describe(item)
        raise TrainuiError(
            f"data set {spec!r}: training items must be (tensor, int label) pairs, got {got}"
        )
    return tuple(item[0].shape)


def _class_names(spec: str, train: Any, given: Any) -> list[str]:
    """The given class names, else `train.classes`, else "0" .. the largest training label."""
    if given is not None:
        if isinstance(given, (str, bytes)) or not hasattr(given, "__len__") or len(given) == 0:
            raise TrainuiError(
                f"data set {spec!r}: class_names is {_describe(given)}, "
                "expected a non-empty list of names"
            )
        return [str(name) for name in given]
    classes = getattr(train, "classes", None)
    if classes is not None:
        return [str(name) for name in classes]
    # Labels index the model's outputs, so a label missing from the training set still
    # needs its place: name every index up to the largest label.
    return [str(index) for index in range(_largest_label(spec, train) + 1)]


def _largest_label(spec: str, train: Any) -> int:
    """Read every training label (slow for big sets: such factories should name classes)."""
    try:
        labels = [int(train[index][1]) for index in range(len(train))]
    except Exception as exc:  # the user's dataset code failed
        raise TrainuiError(
            f"data set {spec!r}: reading training labels failed: {one_line(exc)}"
        ) from None
    if min(labels) < 0:
        raise TrainuiError(f"data set {spec!r}: labels must count from 0, got {min(labels)}")
    return max(labels)
