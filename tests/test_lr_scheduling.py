"""LRScheduling steps at the right granularity and announces every change."""

from __future__ import annotations

import pytest
import torch
from torch.optim import lr_scheduler

from trainui.core.callbacks import LRScheduling
from trainui.core.callbacks.lr_scheduler import default_interval
from trainui.core.events import LRChanged

# These tests step schedulers without optimizer steps, which torch warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Detected call of")


class FakeLoop:
    """Just what LRScheduling touches."""

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.optimizer = optimizer
        self.epoch = 0
        self.global_step = 0
        self.events: list[object] = []

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def emit(self, event: object) -> None:
        self.events.append(event)


def optimizer(lr: float = 1.0) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def test_plateau_steps_on_validation_loss_and_reports_changes() -> None:
    opt = optimizer()
    callback = LRScheduling(lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1))
    loop = FakeLoop(opt)
    callback.on_fit_start(loop)  # type: ignore[arg-type]
    for value in [1.0, 1.0, 1.0, 0.5, 0.6, 0.7]:
        loop.epoch += 1
        callback.on_epoch_end(loop, {"val_loss": value})  # type: ignore[arg-type]
    changes = [e for e in loop.events if isinstance(e, LRChanged)]
    assert [(c.epoch, c.old_lr, c.new_lr) for c in changes] == [(3, 1.0, 0.5), (6, 0.5, 0.25)]
    assert changes[0].scheduler == "ReduceLROnPlateau"


def test_step_lr_is_per_epoch() -> None:
    opt = optimizer()
    callback = LRScheduling(lr_scheduler.StepLR(opt, step_size=2, gamma=0.1))
    assert callback.interval == "epoch"
    loop = FakeLoop(opt)
    callback.on_fit_start(loop)  # type: ignore[arg-type]
    for _ in range(10):
        callback.on_train_step_end(loop)  # type: ignore[arg-type]
    assert loop.lr == 1.0  # steps do not move a per-epoch schedule
    for _ in range(2):
        loop.epoch += 1
        callback.on_epoch_end(loop, {"val_loss": 1.0})  # type: ignore[arg-type]
    assert abs(loop.lr - 0.1) < 1e-12 and len(loop.events) == 1


def test_one_cycle_is_per_step_and_reported_at_throttle_points() -> None:
    opt = optimizer(0.1)
    scheduler = lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=100)
    assert default_interval(scheduler) == "step"
    callback = LRScheduling(scheduler)
    loop = FakeLoop(opt)
    callback.on_fit_start(loop)  # type: ignore[arg-type]
    for _ in range(50):
        callback.on_train_step_end(loop)  # type: ignore[arg-type]
    assert not loop.events  # no event per step
    callback.on_progress(loop)  # type: ignore[arg-type]
    changes = [e for e in loop.events if isinstance(e, LRChanged)]
    assert len(changes) == 1 and changes[0].new_lr == loop.lr != changes[0].old_lr
