"""Run configuration: one small dataclass per concern, validated once."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .errors import TrainuiError

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULERS = ("none", "plateau", "step", "cosine", "onecycle")
AMP_MODES = ("off", "bf16", "fp16")
MODES = ("min", "max")


@dataclass
class RunConfig:
    """Everything that defines a training run from the command line."""

    dataset: str = "digits"
    data_dir: str | None = None
    download: bool = False
    model: str = "cnn"
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    momentum: float = 0.9
    scheduler: str = "plateau"
    lr_patience: int = 2
    lr_factor: float = 0.1
    patience: int = 5
    min_delta: float = 0.0
    monitor: str = "val_loss"
    monitor_mode: str = "min"
    amp: str = "off"
    clip_grad: float | None = None
    seed: int = 42
    deterministic: bool = False
    device: str = "auto"
    num_workers: int = 0
    run_dir: str | None = None
    runs_root: str = "runs"
    checkpoint_every: int = 0
    progress_interval: float = 0.25
    val_fraction: float = 0.1

    def validate(self) -> RunConfig:
        """Raise TrainuiError naming the first bad value; return self when all are fine."""
        _positive("epochs", self.epochs)
        _positive("batch size", self.batch_size)
        _positive("learning rate", self.lr)
        _non_negative("weight decay", self.weight_decay)
        _non_negative("patience", self.patience)
        if not 0 <= self.seed < 2**63:
            raise TrainuiError(f"seed must be between 0 and 2**63-1, got {self.seed}")
        _non_negative("min delta", self.min_delta)
        _non_negative("number of workers", self.num_workers)
        _non_negative("checkpoint every", self.checkpoint_every)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("scheduler", self.scheduler, SCHEDULERS)
        _choice("AMP mode", self.amp, AMP_MODES)
        _choice("monitor mode", self.monitor_mode, MODES)
        if self.clip_grad is not None:
            _positive("gradient clipping norm", self.clip_grad)
        if not 0.0 < self.val_fraction < 1.0:
            raise TrainuiError(
                f"validation fraction must be between 0 and 1, got {self.val_fraction}"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        """Return the config as a JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """Build a config from `to_dict` output, ignoring keys this version does not know."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise TrainuiError(f"{name} must be positive, got {value}")


def _non_negative(name: str, value: float) -> None:
    if value < 0:
        raise TrainuiError(f"{name} must not be negative, got {value}")


def _choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise TrainuiError(f"unknown {name} {value!r} (choose from {', '.join(choices)})")
