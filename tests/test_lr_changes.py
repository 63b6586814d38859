"""Changing the learning rate of a running fit: at the next step boundary, paused or not,
announced once, and a scheduler's schedule rescaled rather than fought."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.optim import lr_scheduler

from core_fixtures import Recorder, digits_loaders
from trainui.core import Control, fit
from trainui.core.callbacks.base import Callback
from trainui.core.events import USER_LR_CHANGE, LRChanged, Paused, Progress, Resumed
from trainui.core.models import build_model


class StepLRs(Callback):
    """Records the learning rate each step trained with, by global step."""

    def __init__(self) -> None:
        self.lrs: dict[int, float] = {}

    @property
    def runs_every_step(self) -> bool:
        return True

    def on_train_step_end(self, loop: Any) -> None:
        self.lrs[loop.global_step] = loop.lr


class AtStep:
    """A sink that calls `action` once, at the first progress at or past `step`."""

    def __init__(self, step: int, action: Any) -> None:
        self.step, self.action, self.done = step, action, False

    def __call__(self, event: object) -> None:
        if isinstance(event, Progress) and event.global_step >= self.step and not self.done:
            self.done = True
            self.action()


def train(epochs: int, scheduler: str | None = None, sinks: tuple = (),
          control: Control | None = None) -> tuple[StepLRs, Recorder, Any]:
    torch.manual_seed(0)
    model = build_model("mlp", (1, 8, 8), 10)
    loaders = digits_loaders()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    schedulers = {
        None: None,
        "onecycle": lambda: lr_scheduler.OneCycleLR(optimizer, max_lr=0.05,
                                                    total_steps=epochs * len(loaders[0])),
        "cosine": lambda: lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs),
    }
    make = schedulers[scheduler]
    steps, recorder = StepLRs(), Recorder()
    history = fit(model, loaders[0], loaders[1], nn.CrossEntropyLoss(), optimizer,
                  epochs=epochs, device="cpu", scheduler=make() if make else None,
                  callbacks=[steps], sinks=[recorder, *sinks], control=control or Control(),
                  progress_interval=0.0)
    return steps, recorder, history


def user_changes(recorder: Recorder) -> list[LRChanged]:
    return [e for e in recorder.of(LRChanged) if e.scheduler == USER_LR_CHANGE]


def test_a_new_learning_rate_applies_from_the_next_step() -> None:
    """set-lr at step 5: steps 1-5 train at 0.01, every later one at 0.002; one LRChanged
    says so; the next epoch's history row has the new LR."""
    control = Control()
    steps, recorder, history = train(2, sinks=(AtStep(5, lambda: control.request_lr(0.002)),),
                                     control=control)
    changed = user_changes(recorder)
    assert len(changed) == 1 and (changed[0].old_lr, changed[0].new_lr) == (0.01, 0.002)
    at = changed[0].global_step
    assert at >= 5
    assert all(lr == 0.01 for step, lr in steps.lrs.items() if step <= at)
    assert all(lr == 0.002 for step, lr in steps.lrs.items() if step > at)
    assert history["lr"] == [0.01, 0.002]


def test_a_factor_rescales_a_one_cycle_schedule() -> None:
    """scale-lr 0.5 mid-run under one-cycle: every later step's LR is half of what the
    schedule gives without the change (its shape kept, not overwritten next step), and
    the schedule announces nothing of its own about it."""
    _, plain_recorder, _ = train(2, "onecycle")
    plain = train(2, "onecycle")[0].lrs
    control = Control()
    scaled, recorder, _ = train(2, "onecycle", control=control,
                                sinks=(AtStep(10, lambda: control.request_lr(0.5, "scale")),))
    at = user_changes(recorder)[0].global_step
    assert all(scaled.lrs[s] == plain[s] for s in plain if s <= at)
    for step in (s for s in plain if s > at):
        assert scaled.lrs[step] == pytest.approx(plain[step] * 0.5, rel=1e-9)
    schedule_changes = [e for e in recorder.of(LRChanged) if e.scheduler == "OneCycleLR"]
    assert len(schedule_changes) == len(plain_recorder.of(LRChanged))


def test_a_factor_rescales_a_cosine_schedule_per_epoch() -> None:
    """The per-epoch cosine schedule goes on from the changed LR: each later epoch's LR
    is the unchanged run's times the factor."""
    plain = train(4, "cosine")[2]["lr"]
    control = Control()
    _, _, history = train(4, "cosine", control=control,
                          sinks=(AtStep(3, lambda: control.request_lr(0.5, "scale")),))
    assert history["lr"][0] == plain[0]
    assert history["lr"][1:] == pytest.approx([lr * 0.5 for lr in plain[1:]], rel=1e-9)


def test_a_paused_run_takes_a_new_learning_rate_at_once() -> None:
    """Asked while paused, the change is made and announced before the run resumes."""
    control = Control()

    def pause_then_change() -> None:
        control.pause()
        threading.Timer(0.3, control.request_lr, args=(0.005,)).start()
        threading.Timer(1.0, control.resume).start()

    steps, recorder, _ = train(1, sinks=(AtStep(3, pause_then_change),), control=control)
    kinds = [e.kind for e in recorder.events if e.kind in ("paused", "lr_changed", "resumed")]
    assert kinds == ["paused", "lr_changed", "resumed"]
    paused, resumed = recorder.of(Paused)[0], recorder.of(Resumed)[0]
    assert user_changes(recorder)[0].global_step == paused.global_step == resumed.global_step
    assert steps.lrs[paused.global_step + 1] == 0.005


def test_requests_combine_and_bad_values_are_refused() -> None:
    """Several requests before the loop takes them: the latest set wins, factors multiply;
    a value that is not a usable LR or factor is a ValueError."""
    control = Control()
    control.request_lr(0.5, "scale")
    control.request_lr(0.5, "scale")
    assert control.take_lr_request() == ("scale", 0.25)
    control.request_lr(0.1)
    control.request_lr(0.5, "scale")
    assert control.take_lr_request() == ("set", 0.05)
    for value, mode in ((0.0, "set"), (-1.0, "scale"), (float("nan"), "set"), (2e3, "set")):
        with pytest.raises(ValueError):
            control.request_lr(value, mode)
    assert control.take_lr_request() is None and not control.pending


def test_a_script_given_its_optimizer_takes_a_new_learning_rate(tmp_path: Path) -> None:
    """trainui.init(optimizer=..., scheduler=...): a set-lr reaches the optimizer at the next
    log, the schedule rescaled; the run's log announces it."""
    import trainui
    from trainui.core.event_file import EVENT_LOG, read_events

    model = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    run = trainui.init(run_dir=tmp_path / "run", epochs=3, optimizer=optimizer,
                       scheduler=scheduler, handle_signals=False)
    run.log({"loss": 1.0})
    run.control.request_lr(0.01)
    run.log({"loss": 0.9})
    assert optimizer.param_groups[0]["lr"] == 0.01
    optimizer.step()
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.005)
    run.finish()
    changes = [e for e in read_events(tmp_path / "run" / EVENT_LOG)
               if isinstance(e, LRChanged)]
    assert [(e.old_lr, e.new_lr, e.scheduler) for e in changes] == [(0.1, 0.01, "user")]


def test_a_change_restarts_plateau_patience_and_never_passes_the_cap() -> None:
    """A plateau schedule counts its patience afresh from a change (it would otherwise cut
    the new rate at its next epoch end); no factor takes a rate past MAX_LR."""
    from trainui.core.config import MAX_LR
    from trainui.core.control import change_learning_rates, rescale_schedule

    optimizer = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    plateau = lr_scheduler.ReduceLROnPlateau(optimizer, patience=2)
    for _ in range(2):
        plateau.step(1.0)
    plateau.step(2.0)
    assert plateau.num_bad_epochs == 2
    ratios = change_learning_rates(optimizer.param_groups, "set", 0.01)
    rescale_schedule(plateau, optimizer.param_groups, ratios)
    assert plateau.num_bad_epochs == 0
    change_learning_rates(optimizer.param_groups, "scale", 1e9)
    assert optimizer.param_groups[0]["lr"] == MAX_LR
