"""Checks that the data, the model and the device can train together, before the first step.

A mismatch fails here with one line naming it, before any file is written, instead of
mid-run with a raw error: an empty split, a label outside 0..classes-1, items that cannot
form a batch, a model whose output is not `(N, classes)`, fp16 on the CPU. The checks stay
cheap however big the data set: a few items of each split (at most SAMPLE_ITEMS, and no
more than a batch) go through the model in eval mode without autograd, every RNG state is
restored afterwards, and all labels are read only where a data set holds them in one tensor
or list (a TensorDataset, `.targets`).

What only shows later (an item of another shape deep in a split, an out-of-range label no
cheap look could see) is put into words where it surfaces, by `data_errors_explained`,
which costs the training step nothing.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from . import seeding
from .config import RunConfig
from .data import DataSplits
from .errors import TrainuiError, one_line

SAMPLE_ITEMS = 32
"""At most this many items of each split are read and run through the model."""

SPLIT_WORDS = {"train": "training", "val": "validation", "test": "test"}


def check_run_inputs(config: RunConfig, data: DataSplits, loaders: Sequence[DataLoader],
                     model: nn.Module, device: torch.device) -> None:
    """Raise TrainuiError naming the first reason `model` cannot train on `data` here."""
    check_precision(config.amp, device)
    splits = {"train": data.train, "val": data.val, "test": data.test}
    for (split, dataset), loader in zip(splits.items(), loaders, strict=True):
        check_split(data.name, split, dataset, data.num_classes,
                    config.model, model, device, loader)


def check_precision(amp: str, device: torch.device) -> None:
    """fp16 autocast on the CPU runs hundreds of times slower than float32: refuse it."""
    if amp == "fp16" and device.type == "cpu":
        raise TrainuiError("--amp fp16 needs a GPU: on the CPU it runs hundreds of times "
                           "slower; use --amp bf16 or --amp off")


def check_split(dataset_name: str, split: str, dataset: Dataset, num_classes: int,
                model_name: str, model: nn.Module, device: torch.device,
                loader: DataLoader) -> None:
    """One split: not empty, labels in range, a sample batch that the model maps to
    `(N, num_classes)`."""
    where = f"data set {dataset_name!r}: the {SPLIT_WORDS[split]} split"
    size = len(dataset)  # type: ignore[arg-type]
    if size == 0:
        raise TrainuiError(f"{where} is empty")
    labels = cheap_labels(dataset)
    if labels is not None:
        _check_label_range(where, labels, num_classes)
    batch_size = loader.batch_size or 1
    with _rng_untouched():
        inputs, targets = _sample_batch(where, dataset, min(size, batch_size, SAMPLE_ITEMS),
                                        loader.collate_fn)
        _check_label_range(where, targets, num_classes)
        _check_outputs(model_name, model, inputs, device, num_classes, SPLIT_WORDS[split])


def cheap_labels(dataset: Any) -> torch.Tensor | None:
    """Every label of `dataset` as one integer tensor, where it holds them all at hand."""
    if isinstance(dataset, Subset):
        labels = cheap_labels(dataset.dataset)
        if labels is None:
            return None
        return labels[torch.as_tensor(list(dataset.indices), dtype=torch.long)]
    if isinstance(dataset, TensorDataset):
        found: Any = dataset.tensors[1] if len(dataset.tensors) == 2 else None
    else:
        found = getattr(dataset, "targets", None)
    try:
        labels = torch.as_tensor(found) if found is not None else None
    except (TypeError, ValueError, RuntimeError):
        return None  # targets of a shape or type of their own: the sample batch checks them
    if labels is None or labels.ndim != 1 or len(labels) != len(dataset):
        return None
    return labels if _is_integer(labels) else None


def _is_integer(tensor: torch.Tensor) -> bool:
    return not (tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool)


def _check_label_range(where: str, labels: torch.Tensor, num_classes: int) -> None:
    if labels.numel() == 0:
        return
    outside = labels[(labels < 0) | (labels >= num_classes)]
    if outside.numel():
        raise TrainuiError(
            f"{where} has label {int(outside[0])}, out of range for {num_classes} classes "
            f"(labels count from 0 to {num_classes - 1}; {outside.numel()} labels are outside)"
        )


def _sample_batch(where: str, dataset: Dataset, count: int,
                  collate: Callable[[list[Any]], Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `count` items, collated the way the split's loader collates them."""
    items = []
    for index in range(count):
        try:
            items.append(dataset[index])
        except Exception as exc:  # the user's dataset code failed
            raise TrainuiError(f"{where}: reading item {index} failed: {one_line(exc)}") from None
    try:
        batch = collate(items)
    except Exception as exc:
        raise TrainuiError(f"{where}'s first {count} items do not form a batch: "
                           f"{explain_batch_error(exc) or one_line(exc)}") from None
    if not (isinstance(batch, (list, tuple)) and len(batch) == 2
            and all(isinstance(part, torch.Tensor) for part in batch)):
        raise TrainuiError(f"{where}: items must be (tensor, int label) pairs")
    inputs, targets = batch
    if targets.ndim != 1 or not _is_integer(targets):
        raise TrainuiError(f"{where}: labels must be single integers (class indices), got "
                           f"{targets.dtype} labels of shape {tuple(targets.shape[1:])}")
    return inputs, targets


def _check_outputs(model_name: str, model: nn.Module, inputs: torch.Tensor,
                   device: torch.device, num_classes: int, split_words: str) -> None:
    """The model maps `inputs` to logits `(N, num_classes)`; its mode is left as it was."""
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            outputs = model(inputs.to(device))
    except Exception as exc:
        raise TrainuiError(
            f"model {model_name!r} fails on {split_words} inputs of shape "
            f"{tuple(inputs.shape[1:])}: {one_line(exc, 200)}"
        ) from None
    finally:
        model.train(training)
    count = len(inputs)
    if not isinstance(outputs, torch.Tensor) or tuple(outputs.shape) != (count, num_classes):
        got = tuple(outputs.shape) if isinstance(outputs, torch.Tensor) else type(outputs).__name__
        raise TrainuiError(
            f"model {model_name!r} maps {count} inputs to {got}, not ({count}, {num_classes}): "
            f"its output size must be the number of classes ({num_classes})"
        )


@contextlib.contextmanager
def _rng_untouched() -> Iterator[None]:
    """Reading items may draw random numbers (augmentation): the run must not notice."""
    state = seeding.rng_state()
    try:
        yield
    finally:
        seeding.set_rng_state(state)


# --- problems that surface mid-run ---------------------------------------------------------

_MIXED_SHAPES = re.compile(r"stack expects each tensor to be equal size, but got "
                           r"(\[[^\]]*\]) at entry \d+ and (\[[^\]]*\]) at entry \d+")
_LABEL_OUT_OF_RANGE = re.compile(r"Target (-?\d+) is out of bounds")


def explain_batch_error(exc: BaseException) -> str | None:
    """The data problem behind a collate or loss error, in words; None for other errors.

    DataLoader workers re-raise their errors with the original traceback in the message,
    so the patterns are searched anywhere in it.
    """
    text = str(exc)
    shapes = _MIXED_SHAPES.search(text)
    if shapes:
        return (f"inputs of different shapes ({shapes[1]} and {shapes[2]}): every input "
                "must have the same shape")
    label = _LABEL_OUT_OF_RANGE.search(text)
    if label:
        return (f"label {label[1]} is out of range for the model's outputs: labels must "
                "count from 0 to the number of classes - 1")
    return None


@contextlib.contextmanager
def data_errors_explained(activity: str) -> Iterator[None]:
    """Turn a data problem that shows only mid-run into TrainuiError (one line, exit 2);
    `activity` ("training", "evaluation") says what it stopped."""
    try:
        yield
    except (RuntimeError, IndexError) as exc:
        explained = explain_batch_error(exc)
        if explained is None:
            raise
        raise TrainuiError(f"{activity} stopped on bad data: {explained}") from exc
