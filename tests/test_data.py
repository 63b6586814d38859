"""Tests for trainui.core.data: built-in data sets, their errors, and the factory contract."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from collections import Counter
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch

from dataset_files import CIFAR10_LABEL_NAMES, write_cifar10, write_idx, write_mnist
from trainui.core.data import BUILTIN_DATASETS, DataSplits, load_dataset
from trainui.core.errors import TrainuiError


def error_of(*args, **kwargs) -> str:
    """Call load_dataset expecting a TrainuiError; return its message, checked to be one line."""
    with pytest.raises(TrainuiError) as caught:
        load_dataset(*args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    return message


# --- digits ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits() -> DataSplits:
    return load_dataset("digits", None)


def test_digits_split_sizes_and_items(digits):
    """70/15/15 of 1797; items are (float32 (1, 8, 8) tensor, int); ten classes."""
    assert (len(digits.train), len(digits.val), len(digits.test)) == (1257, 270, 270)
    assert digits.name == "digits"
    assert digits.input_shape == (1, 8, 8)
    assert digits.class_names == [str(d) for d in range(10)]
    assert digits.num_classes == 10
    for split in (digits.train, digits.val, digits.test):
        image, label = split[0]
        assert image.shape == (1, 8, 8) and image.dtype == torch.float32
        assert type(label) is int and 0 <= label < 10


def test_digits_normalised_with_training_statistics(digits):
    images = digits.train.tensors[0]
    assert abs(images.mean().item()) < 1e-4
    assert abs(images.std().item() - 1) < 1e-4
    assert abs(digits.test.tensors[0].mean().item()) < 0.2  # same constants, not its own


def _raw_rows(splits: DataSplits) -> Counter:
    """Undo the normalisation: count (label, 0..16 pixel row) over all three splits."""
    images = torch.cat([s.tensors[0] for s in (splits.train, splits.val, splits.test)])
    labels = torch.cat([s.tensors[1] for s in (splits.train, splits.val, splits.test)])
    levels = torch.unique(images)  # the 17 raw values 0..16, normalised and sorted
    raw = torch.bucketize(images, levels)  # index of each value among the levels
    assert len(levels) == 17
    return Counter(
        (int(label), tuple(row.tolist())) for label, row in zip(labels, raw.flatten(1), strict=True)
    )


def test_digits_splits_are_disjoint_and_cover_the_data_set(digits):
    from sklearn.datasets import load_digits

    original = load_digits()
    expected = Counter(
        (int(label), tuple(int(v) for v in row))
        for label, row in zip(original.target, original.data, strict=True)
    )
    assert _raw_rows(digits) == expected


def test_digits_test_split_is_stratified(digits):
    counts = np.bincount(digits.test.tensors[1].numpy(), minlength=10)
    totals = np.bincount(digits.train.tensors[1].numpy(), minlength=10)
    assert counts.min() >= 25  # about 15% of ~180 per class
    assert np.all(np.abs(counts / counts.sum() - totals / totals.sum()) < 0.02)


def test_digits_split_is_the_same_whatever_the_seed(digits):
    other = load_dataset("digits", "/ignored", seed=99)
    for ours, theirs in ((digits.test, other.test), (digits.val, other.val)):
        assert torch.equal(ours.tensors[0], theirs.tensors[0])
        assert torch.equal(ours.tensors[1], theirs.tensors[1])


def test_builtin_names_are_exported():
    assert BUILTIN_DATASETS == ("digits", "mnist", "fashion-mnist", "cifar10")


# --- torchvision data sets loaded from generated files ---------------------------------


@pytest.mark.parametrize(
    ("name", "folder", "first_class"),
    [("mnist", "MNIST", "0 - zero"), ("fashion-mnist", "FashionMNIST", "T-shirt/top")],
)
def test_mnist_family_loads_through_torchvision(tmp_path, name, folder, first_class):
    write_mnist(tmp_path, folder=folder, n_train=30, n_test=20)
    splits = load_dataset(name, tmp_path)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (27, 3, 20)
    assert splits.name == name and splits.input_shape == (1, 28, 28)
    assert splits.class_names[0] == first_class and splits.num_classes == 10
    image, label = splits.test[0]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32
    assert type(label) is int
    assert image.min() < 0 < image.max()  # normalised, not raw 0..1


def test_mnist_pixels_are_normalised_with_mnist_constants(tmp_path):
    raw = write_mnist(tmp_path)
    pixels = np.frombuffer((raw / "t10k-images-idx3-ubyte").read_bytes()[16:], np.uint8)
    expected = (torch.tensor(pixels[: 28 * 28].reshape(1, 28, 28)) / 255 - 0.1307) / 0.3081
    image, _ = load_dataset("mnist", tmp_path).test[0]
    assert torch.allclose(image, expected.float(), atol=1e-5)


def test_cifar10_loads_without_md5_of_tiny_files(tmp_path):
    write_cifar10(tmp_path, n_train=27, n_test=10)
    splits = load_dataset("cifar10", str(tmp_path))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (24, 3, 10)
    assert splits.class_names == CIFAR10_LABEL_NAMES
    assert splits.input_shape == (3, 32, 32)
    image, label = splits.train[0]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32
    assert type(label) is int and 0 <= label < 10


def test_validation_split_is_fixed_and_follows_val_fraction(tmp_path):
    write_mnist(tmp_path, n_train=40)
    first = load_dataset("mnist", tmp_path, seed=1)
    second = load_dataset("mnist", tmp_path, seed=2, val_fraction=0.25)
    assert first.val.indices == load_dataset("mnist", tmp_path, seed=3).val.indices
    assert len(second.val) == 10 and len(second.train) == 30
    assert set(first.val.indices).isdisjoint(first.train.indices)


@pytest.mark.slow
def test_importing_data_module_stays_light():
    """torchvision and sklearn load lazily; no UI library is ever imported by the core."""
    code = (
        "import sys, trainui.core.data\n"
        "print(sorted(m for m in ('torchvision', 'sklearn', 'textual', 'rich', 'plotext')"
        " if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --- errors ---------------------------------------------------------------------------


def test_unknown_name_lists_the_choices():
    message = error_of("foo", None)
    assert message == (
        "unknown data set 'foo' (choose from digits, mnist, fashion-mnist, cifar10, "
        "or package.module:factory)"
    )


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10"])
def test_no_data_dir_asks_for_one(name):
    message = error_of(name, None)
    assert "--data-dir" in message and "--download" in message


def test_missing_data_dir_names_path_and_flag(tmp_path):
    missing = tmp_path / "nowhere"
    message = error_of("mnist", missing)
    assert message.startswith(f"data directory not found: {missing}")
    assert "--download" in message and "MNIST" in message


@pytest.mark.parametrize(
    ("name", "title", "folder"),
    [
        ("mnist", "MNIST", "MNIST/raw"),
        ("fashion-mnist", "Fashion-MNIST", "FashionMNIST/raw"),
        ("cifar10", "CIFAR-10", "cifar-10-batches-py"),
    ],
)
def test_empty_data_dir_names_set_path_and_flag(tmp_path, name, title, folder):
    message = error_of(name, tmp_path)
    assert message.startswith(f"{title} not found in {tmp_path / folder}")
    assert "--download" in message


def test_partly_missing_files_are_named(tmp_path):
    raw = write_mnist(tmp_path)
    (raw / "t10k-labels-idx1-ubyte").unlink()
    message = error_of("mnist", tmp_path)
    assert "missing t10k-labels-idx1-ubyte)" in message


@pytest.mark.parametrize(
    ("name", "title", "write", "damaged"),
    [
        ("mnist", "MNIST", write_mnist, "train-images-idx3-ubyte"),
        ("cifar10", "CIFAR-10", write_cifar10, "data_batch_3"),
    ],
)
def test_corrupt_file(tmp_path, name, title, write, damaged):
    folder = write(tmp_path)
    (folder / damaged).write_bytes(b"\x00garbage, neither idx nor pickle")
    message = error_of(name, tmp_path)
    assert message.startswith(f"{title} files in {folder} are corrupt (")
    assert "--download" in message


def test_mnist_with_fewer_labels_than_images_is_corrupt(tmp_path):
    raw = write_mnist(tmp_path, n_train=30)
    write_idx(raw / "train-labels-idx1-ubyte", np.zeros(12, np.uint8))
    message = error_of("mnist", tmp_path)
    assert "corrupt (30 images but 12 labels)" in message


def _offline(*args, **kwargs):
    raise URLError("no network here")


def test_failed_mnist_download_is_one_line(tmp_path, monkeypatch):
    # Patched so that a machine with a network does not fetch the real MNIST.
    monkeypatch.setattr("torchvision.datasets.mnist.download_and_extract_archive", _offline)
    target = tmp_path / "new"
    message = error_of("mnist", target, download=True)
    assert message.startswith(f"downloading MNIST into {target} failed:")
    assert "no network here" in message
    assert target.is_dir()  # created for the download


def test_failed_cifar_download_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr("torchvision.datasets.cifar.download_and_extract_archive", _offline)
    message = error_of("cifar10", tmp_path, download=True)
    assert message.startswith(f"downloading CIFAR-10 into {tmp_path} failed:")
    assert "URLError" in message and "no network here" in message


def test_download_keeps_cifar_md5_check(tmp_path, monkeypatch):
    """With --download, tiny files fail the md5 check, so a download is attempted."""
    attempts = []
    monkeypatch.setattr(
        "torchvision.datasets.cifar.download_and_extract_archive",
        lambda *args, **kwargs: attempts.append(args) or _offline(),
    )
    write_cifar10(tmp_path)
    message = error_of("cifar10", tmp_path, download=True)
    assert len(attempts) == 1
    assert "CIFAR-10" in message and "no network here" in message


def test_download_over_corrupt_files_blames_the_files(tmp_path, monkeypatch):
    """MNIST files that exist are not fetched again, so a failure is theirs, not the network's."""
    monkeypatch.setattr("torchvision.datasets.mnist.download_and_extract_archive", _offline)
    raw = write_mnist(tmp_path)
    (raw / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00")
    message = error_of("mnist", tmp_path, download=True)
    assert message.startswith(f"MNIST files in {raw} are corrupt (")


def test_download_dir_that_is_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    message = error_of("mnist", blocker / "sub", download=True)
    assert message.startswith(f"cannot create data directory {blocker / 'sub'}")


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.1])
def test_bad_val_fraction(tmp_path, fraction):
    write_mnist(tmp_path)
    assert "between 0 and 1" in error_of("mnist", tmp_path, val_fraction=fraction)


# --- user factories -------------------------------------------------------------------

FACTORY_MODULE = """
import torch
from torch.utils.data import TensorDataset
from trainui.core.data import DataSplits

calls = []

class Items:
    def __init__(self, items, classes=None):
        self.items = items
        if classes is not None:
            self.classes = classes
    def __len__(self):
        return len(self.items)
    def __getitem__(self, index):
        return self.items[index]

def items(count, label=lambda i: i % 3):
    return Items([(torch.zeros(2, 5), label(i)) for i in range(count)])

def three(data_dir, seed):
    calls.append((data_dir, seed))
    return items(6), items(2), items(2)

def four(data_dir, seed):
    return items(6), items(2), items(2), ["cat", "dog", "eel"]

def with_classes(data_dir, seed):
    return Items([(torch.zeros(3), 0)], classes=["a", "b"]), items(1), items(1)

def gap_in_labels(data_dir, seed):
    return items(4, label=lambda i: 4 * (i % 2)), items(1), items(1)

def tensor_labels(data_dir, seed):
    x, y = torch.zeros(4, 7), torch.tensor([0, 1, 1, 0])
    return TensorDataset(x, y), TensorDataset(x, y), TensorDataset(x, y)

def splits(data_dir, seed):
    return DataSplits("mine", items(3), items(1), items(1), ["x", "y", "z"], (2, 5))

def forty_two(data_dir, seed):
    return 42

def two(data_dir, seed):
    return items(2), items(2)

def empty_train(data_dir, seed):
    return items(0), items(1), items(1)

def not_pairs(data_dir, seed):
    return Items([([1, 2], "one")]), items(1), items(1)

def float_labels(data_dir, seed):
    return Items([(torch.zeros(2), 0.5)]), items(1), items(1)

def generator_val(data_dir, seed):
    return items(2), (x for x in []), items(1)

def empty_names(data_dir, seed):
    return items(2), items(1), items(1), []

def broken_item(data_dir, seed):
    class Broken(Items):
        def __getitem__(self, index):
            raise KeyError(index)
    return Broken([1]), items(1), items(1)

def raises(data_dir, seed):
    raise ValueError("no such file: labels.csv")

not_callable = 3
"""


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A freshly named module of factories, importable from tmp_path."""
    name = f"user_data_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(FACTORY_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_factory_three_tuple(user_module, tmp_path):
    spec = f"{user_module}:three"
    splits = load_dataset(spec, tmp_path, seed=7)
    assert splits.name == spec
    assert (len(splits.train), len(splits.val), len(splits.test)) == (6, 2, 2)
    assert splits.input_shape == (2, 5)
    assert splits.class_names == ["0", "1", "2"]
    assert sys.modules[user_module].calls == [(Path(tmp_path), 7)]


def test_factory_gets_none_without_data_dir(user_module):
    load_dataset(f"{user_module}:three", None, seed=3)
    assert sys.modules[user_module].calls == [(None, 3)]


def test_factory_four_tuple_names_classes(user_module):
    splits = load_dataset(f"{user_module}:four", None)
    assert splits.class_names == ["cat", "dog", "eel"] and splits.num_classes == 3


def test_factory_class_names_from_train_classes(user_module):
    splits = load_dataset(f"{user_module}:with_classes", None)
    assert splits.class_names == ["a", "b"] and splits.input_shape == (3,)


def test_factory_derived_names_cover_every_label_index(user_module):
    assert load_dataset(f"{user_module}:gap_in_labels", None).class_names == list("01234")


def test_factory_tensor_labels_are_accepted(user_module):
    splits = load_dataset(f"{user_module}:tensor_labels", None)
    assert splits.class_names == ["0", "1"] and splits.input_shape == (7,)


def test_factory_data_splits_returned_as_is(user_module):
    splits = load_dataset(f"{user_module}:splits", None)
    assert splits.name == "mine" and splits.num_classes == 3


@pytest.mark.parametrize(
    ("factory", "expected"),
    [
        ("forty_two", "returned an int; expected a DataSplits, or a tuple (train, val, test)"),
        ("two", "returned a tuple of 2 items; expected a DataSplits"),
        ("empty_train", "the training set is empty"),
        ("not_pairs", "training items must be (tensor, int label) pairs, got (list, str)"),
        ("float_labels", "got (Tensor, float)"),
        ("generator_val", "val is a generator, expected a map-style dataset"),
        ("empty_names", "class_names is a list, expected a non-empty list of names"),
        ("broken_item", "reading training item 0 failed: KeyError: 0"),
        ("raises", "raised ValueError: no such file: labels.csv"),
        ("not_callable", "'not_callable' is not callable"),
        ("missing", "has no attribute 'missing'"),
    ],
)
def test_factory_errors(user_module, factory, expected):
    message = error_of(f"{user_module}:{factory}", None)
    assert f"data set '{user_module}:{factory}'" in message
    assert expected in message


def test_factory_module_not_found():
    message = error_of("no_such_module_xyz:make", None)
    assert "cannot import module 'no_such_module_xyz'" in message
