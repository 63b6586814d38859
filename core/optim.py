"""Optimizers and learning-rate schedulers by name."""

from __future__ import annotations

from typing import Any

import torch
from torch.optim import lr_scheduler

from .config import RunConfig


def build_optimizer(params: Any, config: RunConfig) -> torch.optim.Optimizer:
    """Return the optimizer named by `config.optimizer`."""
    lr, wd = config.lr, config.weight_decay
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=config.momentum, weight_decay=wd)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=config.momentum, weight_decay=wd)
    return torch.optim.Adam(params, lr=lr, weight_decay=wd)


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: RunConfig, steps_per_epoch: int
) -> Any:
    """Return the scheduler named by `config.scheduler`, or None for `none`."""
    name = config.scheduler
    if name == "plateau":
        return lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=config.lr_factor, patience=config.lr_patience
        )
    if name == "step":
        return lr_scheduler.StepLR(optimizer, step_size=max(1, config.epochs // 3),
                                   gamma=config.lr_factor)
    if name == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if name == "onecycle":
        return lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, total_steps=max(1, config.epochs * steps_per_epoch)
        )
    return None
