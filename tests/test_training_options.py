"""Every optimizer and scheduler by name, deterministic mode, the fp16 scaler, resume with
DataLoader workers: the options a run config offers, each exercised."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from torch.optim import lr_scheduler

from core_fixtures import digits_loaders
from trainui.core import Checkpointing, fit
from trainui.core.checkpoint import load_checkpoint
from trainui.core.config import OPTIMIZERS, SCHEDULERS, RunConfig
from trainui.core.job import run_training
from trainui.core.optim import build_optimizer, build_scheduler
from trainui.core.precision import Precision

OPTIMIZER_CLASSES = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
                     "sgd": torch.optim.SGD, "rmsprop": torch.optim.RMSprop}
SCHEDULER_CLASSES = {"plateau": lr_scheduler.ReduceLROnPlateau, "step": lr_scheduler.StepLR,
                     "cosine": lr_scheduler.CosineAnnealingLR,
                     "onecycle": lr_scheduler.OneCycleLR, "none": type(None)}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_each_optimizer_by_name(name: str) -> None:
    """The name gives that optimizer, with the config's learning rate, weight decay and
    (where it has one) momentum."""
    config = RunConfig(optimizer=name, lr=0.02, weight_decay=0.001, momentum=0.5)
    optimizer = build_optimizer(nn.Linear(2, 2).parameters(), config)
    assert type(optimizer) is OPTIMIZER_CLASSES[name]
    group = optimizer.param_groups[0]
    assert group["lr"] == 0.02 and group["weight_decay"] == 0.001
    if name in ("sgd", "rmsprop"):
        assert group["momentum"] == 0.5


@pytest.mark.parametrize("name", SCHEDULERS)
def test_each_scheduler_by_name(name: str) -> None:
    """The name gives that schedule, sized from the epochs (and steps per epoch)."""
    config = RunConfig(scheduler=name, epochs=6, lr_factor=0.5, lr_patience=3)
    optimizer = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    scheduler = build_scheduler(optimizer, config, steps_per_epoch=10)
    assert type(scheduler) is SCHEDULER_CLASSES[name]
    if name == "step":
        assert scheduler.step_size == 2 and scheduler.gamma == 0.5
    if name == "plateau":
        assert scheduler.patience == 3 and scheduler.factor == 0.5
    if name == "onecycle":
        assert scheduler.total_steps == 60


def test_fp16_trains_through_the_grad_scaler_and_saves_its_state(tmp_path: Path) -> None:
    """fp16 scales the loss (GradScaler on), and the scaler's state goes into checkpoints
    so a resumed run continues with the same scale."""
    precision = Precision("fp16", torch.device("cpu"))
    assert precision.scaler.is_enabled()
    train, val, _ = digits_loaders()
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    fit(model, train, val, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.01),
        epochs=1, device="cpu", amp="fp16",
        callbacks=[Checkpointing(tmp_path, final_weights=None, restore_best=False)])
    scaler = load_checkpoint(tmp_path / "last.pt")["scaler_state_dict"]
    assert scaler["scale"] > 0
    assert scaler["_growth_tracker"] == len(train)  # one scaler step per training step


@pytest.mark.slow
def test_deterministic_runs_are_identical(tmp_path: Path) -> None:
    """--deterministic: two runs with the same seed end with the same weights, bit for bit,
    and torch is left in deterministic mode while they train."""
    finals = []
    for name in ("a", "b"):
        config = RunConfig(model="cnn", epochs=1, deterministic=True, device="cpu",
                           run_dir=str(tmp_path / name))
        result = run_training(config)
        assert torch.are_deterministic_algorithms_enabled()
        finals.append(torch.load(result.run_dir / "final_model.pt", weights_only=True))
    torch.use_deterministic_algorithms(False)
    assert finals[0].keys() == finals[1].keys()
    assert all(torch.equal(finals[0][key], finals[1][key]) for key in finals[0])


@pytest.mark.slow
def test_resume_with_workers_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    """With 2 DataLoader workers, a run continued from its epoch-1 checkpoint ends where an
    uninterrupted one does: the same data order, the same weights."""
    def config(name: str, epochs: int) -> RunConfig:
        return RunConfig(model="mlp", epochs=epochs, patience=10, num_workers=2,
                         scheduler="none", device="cpu", run_dir=str(tmp_path / name))

    whole = run_training(config("whole", 2))
    first = run_training(config("part", 1))
    config_file = first.run_dir / "config.json"
    config_file.write_text(config_file.read_text().replace('"epochs": 1', '"epochs": 2'))
    resumed = run_training(RunConfig(), resume=first.run_dir)
    assert resumed.history["val_loss"] == whole.history["val_loss"]
    ends = [torch.load(r.run_dir / "final_model.pt", weights_only=True) for r in (whole, resumed)]
    assert all(torch.equal(ends[0][key], ends[1][key]) for key in ends[0])
