"""The shared "watch one metric for improvement" logic of callbacks."""

from __future__ import annotations

import math
from typing import Any


class MetricMonitor:
    """Tracks the best value of one metric; an improvement must beat it by `min_delta`."""

    def __init__(self, monitor: str = "val_loss", mode: str = "min", min_delta: float = 0.0):
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if min_delta < 0:
            raise ValueError(f"min_delta must not be negative, got {min_delta}")
        self.monitor = monitor
        self.mode = mode
        self.min_delta = min_delta
        self.best: float | None = None
        self.best_epoch: int | None = None

    def read(self, metrics: dict[str, float]) -> float:
        """Return the monitored value from an epoch's metrics."""
        if self.monitor not in metrics:
            known = ", ".join(sorted(metrics))
            raise KeyError(f"monitored metric {self.monitor!r} not found (have: {known})")
        return float(metrics[self.monitor])

    def is_improvement(self, value: float) -> bool:
        """True when `value` beats the best by more than `min_delta` (any finite first value)."""
        if not math.isfinite(value):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, value: float, epoch: int) -> bool:
        """Record `value` from `epoch`; return True if it became the new best."""
        improved = self.is_improvement(value)
        if improved:
            self.best, self.best_epoch = value, epoch
        return improved

    def state_dict(self) -> dict[str, Any]:
        """Return the best value and epoch."""
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        self.best = state["best"]
        self.best_epoch = state["best_epoch"]
