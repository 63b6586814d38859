"""--compile and --channels-last: they train, their checkpoints load into a plain model,
and a compile failure is one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from trainui.core import fit
from trainui.core.checkpoint import load_checkpoint, load_resume_checkpoint
from trainui.core.config import RunConfig
from trainui.core.job import failure_message, run_training
from trainui.core.models import build_model


@pytest.mark.slow
def test_compile_trains_and_saves_the_plain_modules_weights(tmp_path: Path) -> None:
    config = RunConfig(model="mlp", epochs=2, patience=2, seed=1, scheduler="none",
                       run_dir=str(tmp_path / "run"), device="cpu", compile=True)
    result = run_training(config)
    assert result.cause == "completed" and result.metrics is not None
    assert result.metrics["accuracy"] > 0.5
    plain = build_model("mlp", (1, 8, 8), 10)
    final = torch.load(tmp_path / "run" / "final_model.pt", weights_only=True)
    plain.load_state_dict(final)  # no "_orig_mod." prefix: loads without compile
    last = load_resume_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert set(last["model_state_dict"]) == set(plain.state_dict())
    assert last["config"]["compile"] is True


def test_channels_last_keeps_weights_and_batches_in_that_format(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model("cnn", (1, 8, 8), 10)
    seen: list[bool] = []

    def look(_module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        if _module.training:
            seen.append(args[0].is_contiguous(memory_format=torch.channels_last))

    first_conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    first_conv.register_forward_pre_hook(look)
    x, y = torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,))
    data = [(x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)]
    fit(model, data, data, nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters()),
        epochs=1, channels_last=True)
    assert seen and all(seen)
    assert first_conv.weight.is_contiguous(memory_format=torch.channels_last)
    path = tmp_path / "weights.pt"
    torch.save(model.state_dict(), path)
    build_model("cnn", (1, 8, 8), 10).load_state_dict(load_checkpoint(path))


def test_flags_reach_the_config() -> None:
    from trainui.tui.cli import config_from_args, parse_args

    args = parse_args(["train", "--compile", "--channels-last"])
    assert config_from_args(args).compile is True
    assert args.compile is True and args.channels_last is True


def test_a_compile_failure_is_one_line_that_says_what_to_do() -> None:
    error_type = type("InductorError", (RuntimeError,), {"__module__": "torch._inductor.exc"})
    message = failure_message(error_type("C++ compile error\n  cc1plus: fatal error"))
    assert message.startswith("torch.compile failed (InductorError: C++ compile error")
    assert message.endswith("train without --compile") and "\n" not in message
