"""Learning-rate scheduling at the right granularity, with every change announced."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch.optim import lr_scheduler

from ..control import rescale_schedule
from ..events import LRChanged
from .base import Callback

if TYPE_CHECKING:
    from ..loop import Loop

# Schedulers whose schedule is defined in optimizer steps, not epochs.
_PER_STEP = (lr_scheduler.OneCycleLR, lr_scheduler.CyclicLR)


def default_interval(scheduler: Any) -> str:
    """Return "step" for schedules defined per optimizer step, else "epoch"."""
    return "step" if isinstance(scheduler, _PER_STEP) else "epoch"


class LRScheduling(Callback):
    """Steps a scheduler per epoch (ReduceLROnPlateau on a metric) or per step.

    Each change of the first parameter group's learning rate becomes an `LRChanged` event;
    for per-step schedules, changes are reported at throttle points and epoch ends so the
    event rate stays low.
    """

    order = 10

    def __init__(self, scheduler: Any, interval: str | None = None, monitor: str = "val_loss"):
        self.scheduler = scheduler
        self.interval = interval or default_interval(scheduler)
        if self.interval not in ("epoch", "step"):
            raise ValueError(f"interval must be 'epoch' or 'step', got {self.interval!r}")
        self.monitor = monitor
        self.reported_lr: float | None = None
        self.name = type(scheduler).__name__

    @property
    def runs_every_step(self) -> bool:
        """Only per-step schedules need the per-step hook."""
        return self.interval == "step"

    def on_fit_start(self, loop: Loop) -> None:
        """Remember the starting learning rate."""
        self.reported_lr = loop.lr

    def on_train_step_end(self, loop: Loop) -> None:
        """Step per-step schedules."""
        if self.interval == "step":
            self.scheduler.step()

    def on_progress(self, loop: Loop) -> None:
        """Report a per-step schedule's changes at throttle points."""
        self._report(loop)

    def on_epoch_end(self, loop: Loop, metrics: dict[str, float]) -> None:
        """Step per-epoch schedules (plateau on its monitored metric) and report changes."""
        if self.interval == "epoch":
            if isinstance(self.scheduler, lr_scheduler.ReduceLROnPlateau):
                self.scheduler.step(metrics[self.monitor])
            else:
                self.scheduler.step()
        self._report(loop)

    def on_lr_changed(self, loop: Loop, ratios: list[float | None]) -> None:
        """Rescale the schedule by each group's change: every LR it sets from now on is
        the one it would have set, times new/old (a plateau schedule lowers the new LR,
        a cosine, step or one-cycle one follows its shape from it)."""
        rescale_schedule(self.scheduler, loop.optimizer.param_groups, ratios)
        self.reported_lr = loop.lr  # the change is the loop's to announce, not a schedule's

    def _report(self, loop: Loop) -> None:
        lr = loop.lr
        if self.reported_lr is not None and lr != self.reported_lr:
            loop.emit(LRChanged(epoch=loop.epoch, global_step=loop.global_step,
                                old_lr=self.reported_lr, new_lr=lr, scheduler=self.name))
        self.reported_lr = lr

    def state_dict(self) -> dict[str, Any]:
        """Return the last reported learning rate (the scheduler is saved on its own)."""
        return {"reported_lr": self.reported_lr}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        self.reported_lr = state["reported_lr"]
