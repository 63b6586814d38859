"""RunConfig is the one source of each setting: flags, defaults, checks and config.json."""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any

import pytest

from trainui.core.config import RunConfig
from trainui.core.errors import TrainuiError
from trainui.core.run_dir import prepare_run_dir, read_config
from trainui.tui.cli import config_from_args, parse_args

FIELDS = dataclasses.fields(RunConfig)
HINTS = typing.get_type_hints(RunConfig)
FLAGGED = [spec for spec in FIELDS if spec.metadata["flag"]]

# A valid value other than the default for every field (checked below to differ).
OTHER: dict[str, Any] = {
    "dataset": "mnist", "data_dir": "/data", "download": True, "model": "mlp",
    "num_workers": 2, "epochs": 7, "batch_size": 32, "lr": 0.05, "optimizer": "sgd",
    "momentum": 0.5, "weight_decay": 0.01, "scheduler": "cosine", "lr_patience": 4,
    "lr_factor": 0.5, "patience": 9, "min_delta": 0.001, "monitor": "val_acc",
    "monitor_mode": "max", "amp": "bf16", "clip_grad": 1.5, "on_nan": "rollback",
    "rollback_lr_factor": 0.25, "max_rollbacks": 5, "spike_factor": 10.0, "compile": True,
    "channels_last": True, "tensorboard": True, "plots": True, "notify": True,
    "notify_url": "http://127.0.0.1:8000/hook", "seed": 7,
    "deterministic": True, "device": "cpu", "run_dir": "/tmp/somewhere", "runs_root": "elsewhere",
    "checkpoint_every": 3, "progress_interval": 0.5, "val_fraction": 0.2,
    "nproc_per_node": 2, "nnodes": 3, "max_restarts": 1,
}


def test_every_field_has_another_value_here() -> None:
    """A new field must be added to OTHER, so the round trips below cover it."""
    defaults = RunConfig()
    assert set(OTHER) == {spec.name for spec in FIELDS}
    for name, value in OTHER.items():
        assert getattr(defaults, name) != value, name


def test_every_field_survives_config_json(tmp_path: Path) -> None:
    """config -> config.json (as the parent writes it) -> the config the trainer reads."""
    config = RunConfig(**{**OTHER, "run_dir": str(tmp_path / "run")})
    run_dir = prepare_run_dir(config)
    assert read_config(run_dir, "train") == config
    stored = json.loads((run_dir / "config.json").read_text())
    assert RunConfig.from_dict(stored) == config


def test_flags_default_to_the_config_defaults() -> None:
    """The parser takes its defaults from RunConfig: `trainui` alone is RunConfig()."""
    assert config_from_args(parse_args([])) == RunConfig()


def test_every_flag_reaches_its_field() -> None:
    """Each command-line field's flag sets exactly that field."""
    argv: list[str] = []
    for spec in FLAGGED:
        flag = "--" + spec.name.replace("_", "-")
        argv += [flag] if HINTS[spec.name] is bool else [flag, str(OTHER[spec.name])]
    config = config_from_args(parse_args(argv))
    for spec in FLAGGED:
        assert getattr(config, spec.name) == OTHER[spec.name], spec.name


def test_help_shows_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    """`trainui train --help` names each default."""
    with pytest.raises(SystemExit):
        parse_args(["train", "--help"])
    text = capsys.readouterr().out
    for fragment in ("(default 20)", "(default 64)", "(default 0.001)", "(default plateau)"):
        assert fragment in " ".join(text.split()), fragment


@pytest.mark.parametrize("data, fragment", [
    ([1, 2], "JSON object, not an array"),
    ({"epochs": 2.5}, "epochs must be an integer"),
    ({"epochs": True}, "epochs must be an integer"),
    ({"epochs": float("inf")}, "epochs must be an integer"),
    ({"lr": "fast"}, "lr must be a finite number"),
    ({"lr": float("inf")}, "lr must be a finite number"),
    ({"epochs": 0}, "epochs must be positive"),
    ({"optimizer": "lbfgs"}, "unknown value 'lbfgs'"),
    ({"deterministic": 1}, "deterministic must be true or false"),
])
def test_stored_configs_are_checked(data: Any, fragment: str) -> None:
    """A config.json edited by hand is refused with the field and the reason."""
    with pytest.raises(TrainuiError, match=fragment):
        RunConfig.from_dict(data)


def test_an_integer_is_a_fine_float() -> None:
    """JSON writes 1.0 as 1 in some tools: a float field takes an integer."""
    config = RunConfig.from_dict({"lr": 1, "clip_grad": 2})
    assert config.lr == 1.0 and isinstance(config.lr, float) and config.clip_grad == 2.0


def test_unknown_keys_of_a_newer_trainui_are_ignored() -> None:
    assert RunConfig.from_dict({"epochs": 3, "some_future_field": 1}).epochs == 3
