"""`--on-nan rollback`: a diverging run goes back to its last good epoch with a lower LR and
recovers; rollbacks are limited; spikes count too; the command line end to end."""

from __future__ import annotations

import csv
import math
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from core_fixtures import Recorder, digits_loaders
from trainui.core import fit
from trainui.core.callbacks import Rollback
from trainui.core.event_file import EVENT_LOG, read_events
from trainui.core.events import (
    EpochEnded,
    LRChanged,
    NonFiniteLoss,
    RolledBack,
    TrainingStopped,
)
from trainui.core.models import build_model

RunTrainui = Callable[..., subprocess.CompletedProcess[str]]

FACTORY = """
    import torch
    from torch import nn

    class BlowsUp(nn.Module):
        '''An MLP whose output turns infinite at one training call: a loss that diverges.'''

        def __init__(self, input_shape, num_classes, at):
            super().__init__()
            size = 1
            for n in input_shape:
                size *= n
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(size, 32), nn.ReLU(),
                                     nn.Linear(32, num_classes))
            self.calls, self.at = 0, at

        def forward(self, x):
            out = self.net(x)
            if self.training:
                self.calls += 1
                if self.calls == self.at:
                    return out * float("inf")
            return out

    def model(input_shape, num_classes):
        return BlowsUp(input_shape, num_classes, at=30)
"""


def train(lr: float, rollback: Rollback | None, epochs: int = 3,
          model: nn.Module | None = None) -> tuple[Recorder, object]:
    torch.manual_seed(0)
    model = model or build_model("mlp", (1, 8, 8), 10)
    loaders = digits_loaders()
    recorder = Recorder()
    history = fit(model, loaders[0], loaders[1], nn.CrossEntropyLoss(),
                  torch.optim.SGD(model.parameters(), lr=lr), epochs=epochs, device="cpu",
                  callbacks=[rollback] if rollback else [], sinks=[recorder],
                  progress_interval=0.0)
    return recorder, history


def test_a_diverging_run_rolls_back_and_recovers() -> None:
    """SGD at LR 20 turns the loss to NaN in the first epoch: back to the start at LR 0.2,
    and every epoch then trains to a finite loss."""
    recorder, history = train(20.0, Rollback(lr_factor=0.01, max_rollbacks=3))
    rolled = recorder.of(RolledBack)
    assert len(rolled) == 1
    event = rolled[0]
    assert (event.to_epoch, event.to_step, event.old_lr, event.new_lr, event.count) == (
        0, 0, 20.0, pytest.approx(0.2), 1)
    assert "training loss became nan" in event.reason
    assert not recorder.of(NonFiniteLoss)
    assert [e.scheduler for e in recorder.of(LRChanged)] == ["rollback"]
    assert recorder.of(TrainingStopped)[0].cause == "completed"
    assert history["epoch"] == [1, 2, 3]  # type: ignore[index]
    assert all(math.isfinite(v) for v in history["train_loss"])  # type: ignore[index]
    assert history["train_loss"][-1] < 1.0  # type: ignore[index]
    epochs = recorder.of(EpochEnded)
    assert [e.epoch for e in epochs] == [1, 2, 3] and epochs[0].global_step == 20


def test_rollbacks_run_out_then_the_run_stops() -> None:
    """A factor of 1 keeps the LR that diverges: two rollbacks, then the third NaN stops the
    run as without rollback."""
    recorder, _ = train(20.0, Rollback(lr_factor=1.0, max_rollbacks=2))
    assert [e.count for e in recorder.of(RolledBack)] == [1, 2]
    assert len(recorder.of(NonFiniteLoss)) == 1
    assert recorder.of(TrainingStopped)[0].cause == "non_finite_loss"


def test_a_spike_rolls_back_to_the_last_good_epoch() -> None:
    """A loss 10x the last epoch's (not NaN) rolls back when spike_factor says so; the
    rollback goes to the end of epoch 1, and the same state is kept (no lost epochs)."""
    namespace: dict[str, object] = {}
    exec(textwrap.dedent(FACTORY).replace('float("inf")', "1e4"), namespace)  # noqa: S102
    model = namespace["BlowsUp"]((1, 8, 8), 10, 30)  # type: ignore[operator]
    recorder, history = train(0.1, Rollback(lr_factor=0.5, spike_factor=10.0), model=model)
    rolled = recorder.of(RolledBack)
    assert len(rolled) == 1 and (rolled[0].to_epoch, rolled[0].to_step) == (1, 20)
    assert "over 10 times the last epoch's" in rolled[0].reason
    assert history["epoch"] == [1, 2, 3]  # type: ignore[index]
    assert history["lr"] == [0.1, 0.05, 0.05]  # type: ignore[index]


def test_spike_decision() -> None:
    rollback = Rollback(spike_factor=5.0)
    assert rollback.spike([100.0], 3) is None  # no epoch ended yet: nothing to compare
    rollback.reference = 0.5
    assert rollback.spike([0.4, 2.4], 7) is None
    assert "2.6 at step 7" in (rollback.spike([2.6], 7) or "")
    with pytest.raises(ValueError):
        Rollback(lr_factor=0.0)


@pytest.mark.slow
def test_the_command_line_recovers_a_model_factory_that_diverges(
        tmp_path: Path, trainui_cli: RunTrainui) -> None:
    """`--model diverging:model --on-nan rollback`: the loss goes infinite in epoch 2; the
    run goes back to epoch 1's end at half the LR, completes (exit 0) and says so in its
    lines, events and history. Without rollback the same run fails (exit 1)."""
    (tmp_path / "diverging.py").write_text(textwrap.dedent(FACTORY))
    common = ["--headless", "--epochs", "3", "--model", "diverging:model",
              "--scheduler", "none"]
    result = trainui_cli([*common, "--on-nan", "rollback", "--run-dir", tmp_path / "run"],
                         pythonpath=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "rolled back to the end of epoch 1 (training loss became nan at step " in \
        result.stdout
    assert "lr 0.001 -> 0.0005 (rollback 1 of 3)" in result.stdout
    assert "(rollback)" not in result.stdout  # one line for it, not two
    events = list(read_events(tmp_path / "run" / EVENT_LOG))
    assert len([e for e in events if isinstance(e, RolledBack)]) == 1
    with open(tmp_path / "run" / "history.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [row["epoch"] for row in rows] == ["1", "2", "3"]
    assert [float(row["lr"]) for row in rows] == [0.001, 0.0005, 0.0005]
    stopped = trainui_cli([*common, "--run-dir", tmp_path / "stop"], pythonpath=tmp_path)
    assert stopped.returncode == 1 and "non-finite" in stopped.stdout + stopped.stderr


def test_each_rollback_to_the_same_state_goes_lower() -> None:
    """A retry that fails again is retried lower still: LR 1000, factor 0.1 gives 100, then
    10, then 1 (each from the kept state's 1000), not 100 three times."""
    recorder, _ = train(1000.0, Rollback(lr_factor=0.1, max_rollbacks=3))
    rolled = recorder.of(RolledBack)
    assert len(rolled) >= 2
    for index, event in enumerate(rolled):
        assert event.old_lr == 1000.0
        assert event.new_lr == pytest.approx(1000.0 * 0.1 ** (index + 1))
