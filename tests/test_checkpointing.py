"""Checkpointing through a real (tiny) fit: best, last, periodic, requested, final weights."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from core_fixtures import Recorder
from trainui.core import Checkpointing, Control, EarlyStopping, fit
from trainui.core.checkpoint import load_checkpoint
from trainui.core.events import CheckpointSaved, Progress

REQUIRED_KEYS = {
    "model_state_dict", "optimizer_state_dict", "epoch", "loss", "scheduler_state_dict",
    "scaler_state_dict", "callbacks", "history", "rng_state", "global_step",
}


def tiny_data(n: int = 64, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=generator)
    y = (x[:, 0] > 0).long()
    return [(x[i:i + 16], y[i:i + 16]) for i in range(0, n, 16)]


def run(tmp_path: Path, epochs: int, val_losses: list[float] | None = None, **kwargs):  # type: ignore[no-untyped-def]
    control = kwargs.pop("control", None)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1, 0.5)
    checkpointing = Checkpointing(tmp_path / "ckpt", final_weights=tmp_path / "final.pt",
                                  **kwargs)
    recorder = Recorder()
    fit(model, tiny_data(), tiny_data(seed=1), nn.CrossEntropyLoss(), optimizer,
        epochs=epochs, scheduler=scheduler, callbacks=[EarlyStopping(patience=50), checkpointing],
        sinks=[recorder], control=control, metadata={"config": {"x": 1}})
    return model, checkpointing, recorder


def test_best_last_periodic_and_final(tmp_path: Path) -> None:
    model, checkpointing, recorder = run(tmp_path, epochs=4, every_n_epochs=2)
    names = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert names == ["best.pt", "epoch-002.pt", "epoch-004.pt", "last.pt"]
    last = load_checkpoint(tmp_path / "ckpt" / "last.pt")
    assert REQUIRED_KEYS <= set(last)
    assert last["epoch"] == 4 and last["config"] == {"x": 1}
    assert set(last["callbacks"]) == {"EarlyStopping", "Checkpointing", "LRScheduling"}
    assert last["callbacks"]["EarlyStopping"]["best_epoch"] == checkpointing.tracker.best_epoch
    assert last["scheduler_state_dict"]["last_epoch"] == 4
    assert len(last["history"]["epochs"]["val_loss"]) == 4
    final = torch.load(tmp_path / "final.pt", weights_only=True)
    assert set(final) == set(model.state_dict())
    reasons = [e.reason for e in recorder.of(CheckpointSaved)]
    assert reasons.count("last") == 4 and reasons.count("periodic") == 2
    assert reasons[-1] == "final_weights"


def test_best_holds_the_best_epoch_and_is_restored(tmp_path: Path) -> None:
    model, checkpointing, _ = run(tmp_path, epochs=5)
    best = load_checkpoint(tmp_path / "ckpt" / "best.pt")
    history = best["history"]["epochs"]
    best_epoch = min(range(len(history["val_loss"])), key=history["val_loss"].__getitem__) + 1
    assert best["epoch"] == best_epoch == checkpointing.tracker.best_epoch
    for key, value in model.state_dict().items():  # restore_best put the best weights back
        assert torch.equal(value, best["model_state_dict"][key])


def test_save_request_writes_a_checkpoint_mid_epoch(tmp_path: Path) -> None:
    control = Control()
    control.request_save()
    _, _, recorder = run(tmp_path, epochs=1, control=control)
    requested = [e for e in recorder.of(CheckpointSaved) if e.reason == "requested"]
    assert len(requested) == 1
    payload = load_checkpoint(requested[0].path)
    assert payload["reason"] == "requested" and payload["epoch"] == 0
    assert recorder.of(Progress)  # running metrics were read (and checked) before saving


def test_no_temp_files_left_behind(tmp_path: Path) -> None:
    run(tmp_path, epochs=2)
    assert not [p for p in (tmp_path / "ckpt").iterdir() if p.name.startswith(".")]
