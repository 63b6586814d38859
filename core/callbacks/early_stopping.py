"""Early stopping: stop once `patience` epochs in a row bring no improvement."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..events import EarlyStoppingUpdated
from ..formats import metric
from ..monitor import MetricMonitor
from ..outcome import StopCause
from .base import Callback

if TYPE_CHECKING:
    from ..loop import Loop


def stopping_decision(
    value: float, wait_count: int, patience: int, monitor: MetricMonitor
) -> tuple[bool, str]:
    """Decide whether to stop after an epoch that did not improve; return (stop, reason).

    `wait_count` is the number of consecutive epochs without improvement, this one included.
    """
    if not math.isfinite(value):
        return True, f"{monitor.monitor} is {value}"
    if wait_count >= patience:
        best = "none" if monitor.best is None else metric(monitor.monitor, monitor.best)
        delta = f" by more than {monitor.min_delta:g}" if monitor.min_delta else ""
        return True, (
            f"{monitor.monitor} did not improve{delta} for {wait_count} epoch"
            f"{'s' if wait_count != 1 else ''} (best {best} at epoch {monitor.best_epoch})"
        )
    return False, ""


class EarlyStopping(Callback):
    """Monitors a metric after each epoch and stops training when it stops improving."""

    order = 20

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "min",
        patience: int = 5,
        min_delta: float = 0.0,
    ) -> None:
        if patience < 0:
            raise ValueError(f"patience must not be negative, got {patience}")
        self.tracker = MetricMonitor(monitor, mode, min_delta)
        self.patience = patience
        self.wait_count = 0
        self.stopped_epoch: int | None = None
        self.reason = ""

    @property
    def best(self) -> float | None:
        """Best value seen so far."""
        return self.tracker.best

    @property
    def best_epoch(self) -> int | None:
        """Epoch (1-based) of the best value."""
        return self.tracker.best_epoch

    def on_epoch_end(self, loop: Loop, metrics: dict[str, float]) -> None:
        """Update the counter, announce it, and stop the loop when patience runs out."""
        value = self.tracker.read(metrics)
        improved = self.step(value, loop.epoch)
        loop.emit(EarlyStoppingUpdated(
            epoch=loop.epoch, monitor=self.tracker.monitor, mode=self.tracker.mode,
            value=value, best=self.best, best_epoch=self.best_epoch,
            wait_count=self.wait_count, patience=self.patience, improved=improved,
        ))
        if self.stopped_epoch == loop.epoch:
            loop.stop(StopCause.EARLY_STOPPING, f"early stopping: {self.reason}")

    def step(self, value: float, epoch: int) -> bool:
        """Record one epoch's value; return whether it improved. Sets `reason` on a stop."""
        improved = self.tracker.update(value, epoch)
        self.wait_count = 0 if improved else self.wait_count + 1
        if not improved:
            stop, reason = stopping_decision(value, self.wait_count, self.patience, self.tracker)
            if stop:
                self.stopped_epoch, self.reason = epoch, reason
        return improved

    def state_dict(self) -> dict[str, Any]:
        """Return the counter, best value and epoch."""
        return {"wait_count": self.wait_count, "stopped_epoch": self.stopped_epoch,
                "reason": self.reason, **self.tracker.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        self.wait_count = int(state["wait_count"])
        self.stopped_epoch = state["stopped_epoch"]
        self.reason = state["reason"]
        self.tracker.load_state_dict(state)
