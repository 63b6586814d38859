"""Evaluate a saved checkpoint (or plain state_dict file) on its data set's test split."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch.utils.data import DataLoader

from .checkpoint import (
    check_finite,
    epochs_done,
    load_checkpoint,
    load_model_weights,
    model_state_of,
    stored_config,
)
from .config import RunConfig
from .data import load_dataset
from .devices import resolve_device
from .errors import TrainuiError
from .evaluation import evaluate
from .models import build_model
from .preflight import check_split, data_errors_explained
from .run_dir import is_run_dir, read_config


def evaluate_checkpoint(
    path: str | os.PathLike[str], *, dataset: str | None = None, data_dir: str | None = None,
    download: bool = False, model: str | None = None, device: str = "auto",
    batch_size: int | None = None,
) -> dict[str, Any]:
    """Rebuild the model, load the weights and return test-split metrics.

    The run config stored in the checkpoint (or the config.json beside a plain state_dict
    file) names the model and data set; `dataset`, `data_dir`, `model` and `batch_size`
    override it.
    """
    payload = load_checkpoint(path)
    state = model_state_of(payload, path)
    check_finite(state, path)
    config = _config_for(Path(path), payload)
    dataset = dataset or config.dataset
    model_name = model or config.model
    data = load_dataset(dataset, data_dir or config.data_dir, download=download,
                        seed=config.seed, val_fraction=config.val_fraction)
    where = resolve_device(device)
    network = build_model(model_name, data.input_shape, data.num_classes)
    load_model_weights(network, state, str(path), model_name)
    network.to(where)
    loader = DataLoader(data.test, batch_size=batch_size or config.batch_size)
    check_split(data.name, "test", data.test, data.num_classes, model_name, network, where,
                loader)
    with data_errors_explained("evaluation"):
        metrics = evaluate(network, loader, where, list(data.class_names))
    return {**metrics, "checkpoint": str(path), "dataset": dataset, "model": model_name,
            "epoch": epochs_done(payload) if "epoch" in payload else None}


def _config_for(path: Path, payload: dict[str, Any]) -> RunConfig:
    """The run config of a checkpoint: stored in it, or (for `final_model.pt` and other
    plain state_dict files) the config.json of the run directory it sits in."""
    stored = stored_config(payload)
    if stored is None:
        for folder in (path.parent, path.parent.parent):
            if is_run_dir(folder):
                return read_config(folder, "evaluate")
        return RunConfig()
    try:
        return RunConfig.from_dict(stored)
    except TrainuiError as exc:
        raise TrainuiError(f"checkpoint {path} holds a bad run config: {exc}") from None
