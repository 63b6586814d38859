"""The checkpoint files a real run writes, and how safely trainui reads checkpoints back."""

from __future__ import annotations

import json
import random

import pytest
import torch

from trainui.core.checkpoint import load_checkpoint
from trainui.core.errors import TrainuiError

pytestmark = pytest.mark.slow

CHECKPOINT_KEYS = {
    "model_state_dict", "optimizer_state_dict", "epoch", "loss", "scheduler_state_dict",
    "scaler_state_dict", "callbacks", "history", "rng_state", "config",
}


def test_checkpoint_every_epoch_writes_numbered_files(trained_runs):
    """--checkpoint-every 1 over two epochs: epoch-001.pt and epoch-002.pt, each its epoch."""
    result, run_dir = trained_runs["piped"]
    assert result.returncode == 0, result.stdout + result.stderr
    folder = run_dir / "checkpoints"
    assert sorted(p.name for p in folder.glob("epoch-*.pt")) == ["epoch-001.pt", "epoch-002.pt"]
    for epoch in (1, 2):
        payload = torch.load(folder / f"epoch-{epoch:03d}.pt", weights_only=True)
        assert payload["epoch"] == epoch


def test_best_checkpoint_loads_weights_only_with_every_key(trained_runs):
    """best.pt is plain data (weights_only=True) and carries everything needed to resume."""
    result, run_dir = trained_runs["default"]
    assert result.returncode == 0, result.stdout + result.stderr
    payload = torch.load(run_dir / "checkpoints/best.pt", map_location="cpu", weights_only=True)
    assert CHECKPOINT_KEYS <= set(payload)
    assert payload["config"] == json.loads((run_dir / "config.json").read_text())
    assert payload["epoch"] in (1, 2)
    assert isinstance(payload["loss"], float)
    assert all(isinstance(v, torch.Tensor) for v in payload["model_state_dict"].values())
    assert payload["optimizer_state_dict"]["state"]  # Adam has moments after two epochs


def test_last_checkpoint_is_the_final_epoch(trained_runs):
    _, run_dir = trained_runs["default"]
    payload = load_checkpoint(run_dir / "checkpoints/last.pt")
    assert payload["epoch"] == 2
    assert CHECKPOINT_KEYS <= set(payload)


# --- files that are no checkpoint --------------------------------------------------------


def _garbage() -> dict[str, bytes]:
    rng = random.Random(0)
    return {
        "empty": b"",
        "zeros": bytes(100),
        "text": b"hello, I am not a checkpoint\n",
        **{f"random-{i}": rng.randbytes(4096) for i in range(5)},
    }


@pytest.mark.parametrize("name", list(_garbage()))
def test_garbage_is_reported_as_corrupt(tmp_path, name):
    """Whatever torch.load raises on garbage becomes one 'corrupt' line, never 'pickled code'."""
    path = tmp_path / f"{name}.pt"
    path.write_bytes(_garbage()[name])
    with pytest.raises(TrainuiError, match="truncated or corrupt") as caught:
        load_checkpoint(path)
    assert "\n" not in str(caught.value)


def test_truncated_checkpoint_is_reported_as_corrupt(tmp_path):
    whole = tmp_path / "whole.pt"
    torch.save({"model_state_dict": torch.nn.Linear(4, 2).state_dict()}, whole)
    data = whole.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 30):
        part = tmp_path / f"cut-{cut}.pt"
        part.write_bytes(data[:cut])
        with pytest.raises(TrainuiError, match="truncated or corrupt"):
            load_checkpoint(part)
