"""Evaluate a saved checkpoint (or plain state_dict file) on its data set's test split."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from torch.utils.data import DataLoader

from .checkpoint import load_checkpoint, load_model_weights, model_state_of
from .config import RunConfig
from .data import load_dataset
from .devices import resolve_device
from .evaluation import evaluate
from .models import build_model


@dataclass
class EvalOptions:
    """Overrides for what the checkpoint's stored run config says."""

    dataset: str | None = None
    data_dir: str | None = None
    download: bool = False
    model: str | None = None
    device: str = "auto"
    batch_size: int | None = None


def evaluate_checkpoint(path: str | os.PathLike[str], options: EvalOptions) -> dict[str, Any]:
    """Rebuild the model, load the weights and return test-split metrics."""
    payload = load_checkpoint(path)
    state = model_state_of(payload, path)
    stored = payload.get("config")
    config = RunConfig.from_dict(stored) if isinstance(stored, dict) else RunConfig()
    dataset = options.dataset or config.dataset
    model_name = options.model or config.model
    data = load_dataset(dataset, options.data_dir or config.data_dir, download=options.download,
                        seed=config.seed, val_fraction=config.val_fraction)
    device = resolve_device(options.device)
    model = build_model(model_name, data.input_shape, data.num_classes)
    load_model_weights(model, state, str(path), model_name)
    model.to(device)
    loader = DataLoader(data.test, batch_size=options.batch_size or config.batch_size)
    metrics = evaluate(model, loader, device, list(data.class_names))
    return {**metrics, "checkpoint": str(path), "dataset": dataset, "model": model_name,
            "epoch": payload.get("epoch")}
