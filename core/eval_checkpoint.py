"""Evaluate a saved checkpoint (or plain state_dict file) on its data set's test split."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch.utils.data import DataLoader

from .checkpoint import (
    check_finite,
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


@dataclass
class EvalOptions:
    """Overrides for what the checkpoint's stored run config says."""

    dataset: str | None = None
    """Another data set's test split (default: the run's)."""
    data_dir: str | None = None
    download: bool = False
    model: str | None = None
    """Another model to load the weights into (default: the run's)."""
    device: str = "auto"
    batch_size: int | None = None


def evaluate_checkpoint(path: str | os.PathLike[str], options: EvalOptions) -> dict[str, Any]:
    """Rebuild the model, load the weights and return test-split metrics."""
    payload = load_checkpoint(path)
    state = model_state_of(payload, path)
    check_finite(state, path)
    config = _config_for(Path(path), payload)
    dataset = options.dataset or config.dataset
    model_name = options.model or config.model
    data = load_dataset(dataset, options.data_dir or config.data_dir, download=options.download,
                        seed=config.seed, val_fraction=config.val_fraction)
    device = resolve_device(options.device)
    model = build_model(model_name, data.input_shape, data.num_classes)
    load_model_weights(model, state, str(path), model_name)
    model.to(device)
    loader = DataLoader(data.test, batch_size=options.batch_size or config.batch_size)
    check_split(data.name, "test", data.test, data.num_classes, model_name, model, device,
                loader)
    with data_errors_explained("evaluation"):
        metrics = evaluate(model, loader, device, list(data.class_names))
    return {**metrics, "checkpoint": str(path), "dataset": dataset, "model": model_name,
            "epoch": payload.get("epoch")}


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
