"""Run configuration: one dataclass whose fields carry their own defaults, checks and help.

The command line's train flags are generated from these fields (`tui/cli.py`), a run's
config.json is written from them, and a trainer process reads them back through
`RunConfig.from_dict`, which checks every value's type and range. A field added here
therefore has one default, one check and one help text everywhere.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import TrainuiError
from .extras import require
from .notify import check_url
from .workers import WORKERS_PER_CPU, max_workers, usable_cpus

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULERS = ("none", "plateau", "step", "cosine", "onecycle")
AMP_MODES = ("off", "bf16", "fp16")
MODES = ("min", "max")
MONITORS = ("val_loss", "val_acc", "train_loss", "train_acc")
ON_NAN = ("stop", "rollback")

MAX_SEED = 2**63 - 1
MAX_BATCH_SIZE = 2**31 - 1
MAX_LR = 1e3
MAX_WEIGHT_DECAY = 1e3
MAX_EPOCHS = 10**7
EPOCH_SHAPED_SCHEDULERS = ("step", "cosine", "onecycle")
"""Schedulers whose schedule is laid out over the run's epochs: such a run cannot be
extended (its schedule would have to change shape halfway)."""
MAX_PROCESSES = 4096

Check = Callable[[Any], str | None]
"""Returns why a value is wrong, or None when it is fine."""


def positive(most: float = math.inf) -> Check:
    """A finite number > 0 and at most `most`."""
    def check(value: Any) -> str | None:
        if not (value > 0 and math.isfinite(value)):
            return f"must be positive, got {value}"
        if value > most:
            return f"must be at most {_number(most)}, got {value}"
        return None
    return check


def non_negative(most: float = math.inf) -> Check:
    """A finite number >= 0 and at most `most`."""
    def check(value: Any) -> str | None:
        if not (value >= 0 and math.isfinite(value)):
            return f"must not be negative, got {value}"
        if value > most:
            return f"must be at most {_number(most)}, got {value}"
        return None
    return check


def _number(value: float) -> str:
    """A bound as people write it: 2147483647 and 1000, not 2.14748e+09 and 1e+03."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def within(low: float, high: float) -> Check:
    """A number strictly between `low` and `high`."""
    def check(value: Any) -> str | None:
        if not low < value < high:
            return f"must be between {low:g} and {high:g}, got {value}"
        return None
    return check


def one_of(choices: tuple[str, ...]) -> Check:
    """One of `choices`."""
    def check(value: Any) -> str | None:
        if value not in choices:
            return f"unknown value {value!r} (choose from {', '.join(choices)})"
        return None
    return check


def _workers(value: Any) -> str | None:
    if value < 0:
        return f"must not be negative, got {value}"
    if value > max_workers():
        return (f"must be at most {max_workers()} on this machine ({WORKERS_PER_CPU} per CPU, "
                f"{usable_cpus()} CPUs), got {value}")
    return None


def _seed(value: Any) -> str | None:
    if not 0 <= value <= MAX_SEED:
        return f"must be between 0 and 2**63-1, got {value}"
    return None


def option(default: Any, help: str, *, check: Check | None = None,
           choices: tuple[str, ...] | None = None, metavar: str | None = None,
           group: str = "run", flag: bool = True) -> Any:
    """A config field: its default, its check, and how the command line offers it."""
    if choices is not None:
        check = one_of(choices)
    return field(default=default, metadata={
        "help": help, "check": check, "choices": choices, "metavar": metavar,
        "group": group, "flag": flag,
    })


@dataclass
class RunConfig:
    """Everything that defines a training run."""

    dataset: str = option("digits", "digits (embedded), mnist, fashion-mnist, cifar10, or "
                          "package.module:factory", group="data and model")
    data_dir: str | None = option(None, "folder holding torchvision data sets",
                                  metavar="DIR", group="data and model")
    download: bool = option(False, "download a missing torchvision data set into --data-dir",
                            group="data and model")
    model: str = option("cnn", "mlp, cnn, resnet18, or package.module:factory",
                        group="data and model")
    num_workers: int = option(0, "DataLoader worker processes (at most 4 per CPU)",
                              check=_workers, metavar="N", group="data and model")
    epochs: int = option(20, "maximum epochs (early stopping may end sooner)",
                         check=positive(MAX_EPOCHS), metavar="N", group="optimisation")
    batch_size: int = option(64, "batch size of every split", check=positive(MAX_BATCH_SIZE),
                             metavar="N", group="optimisation")
    lr: float = option(1e-3, "learning rate", check=positive(MAX_LR), metavar="LR",
                       group="optimisation")
    optimizer: str = option("adam", "optimizer (sgd and rmsprop with momentum)",
                            choices=OPTIMIZERS, group="optimisation")
    momentum: float = option(0.9, "momentum of sgd and rmsprop", check=within(-1e-12, 1.0),
                             metavar="M", group="optimisation")
    weight_decay: float = option(0.0, "weight decay", check=non_negative(MAX_WEIGHT_DECAY),
                                 metavar="WD", group="optimisation")
    scheduler: str = option("plateau", "plateau steps on the validation loss; step and "
                            "cosine per epoch; onecycle per step", choices=SCHEDULERS,
                            group="optimisation")
    lr_patience: int = option(2, "epochs without improvement before plateau lowers the LR",
                              check=non_negative(), metavar="N", group="optimisation")
    lr_factor: float = option(0.1, "factor by which plateau and step lower the LR",
                              check=within(0.0, 1.0), metavar="F", group="optimisation")
    patience: int = option(5, "early stopping: epochs in a row without improvement",
                           check=non_negative(), metavar="N", group="optimisation")
    min_delta: float = option(0.0, "early stopping and best checkpoint: the smallest change "
                              "that counts as an improvement", check=non_negative(),
                              metavar="D", group="optimisation")
    monitor: str = option("val_loss", "metric for early stopping and the best checkpoint",
                          choices=MONITORS, group="optimisation")
    monitor_mode: str = option("min", "whether the monitored metric should fall or rise",
                               choices=MODES, group="optimisation", flag=False)
    amp: str = option("off", "mixed precision", choices=AMP_MODES, group="optimisation")
    clip_grad: float | None = option(None, "clip the gradient norm to NORM",
                                     check=positive(), metavar="NORM", group="optimisation")
    on_nan: str = option("stop", "on a NaN or infinite training loss: stop, or roll back to "
                         "the last good epoch with a lower LR and go on", choices=ON_NAN,
                         group="divergence")
    rollback_lr_factor: float = option(0.5, "what each rollback multiplies the LR by",
                                       check=within(0.0, 1.0), metavar="F", group="divergence")
    max_rollbacks: int = option(3, "rollbacks at most; then a non-finite loss stops the run",
                                check=positive(), metavar="N", group="divergence")
    spike_factor: float | None = option(None, "with rollback: a step loss over F times the last "
                                        "epoch's training loss rolls back too", check=positive(),
                                        metavar="F", group="divergence")
    compile: bool = option(False, "compile the model with torch.compile (the first steps "
                           "take longer; checkpoints hold the plain model's weights)",
                           group="speed")
    channels_last: bool = option(False, "channels-last memory format for convolutional "
                                 "models (faster on recent GPUs with --amp)", group="speed")
    tensorboard: bool = option(False, "also write TensorBoard event files to "
                               "RUN_DIR/tensorboard (needs trainui[tensorboard])",
                               group="outputs")
    plots: bool = option(False, "write history.png and confusion_matrix.png into the run "
                         "directory when the run ends (needs trainui[plots])", group="outputs")
    notify: bool = option(False, "ring the terminal's bell and send a desktop notification "
                          "(OSC 9 / OSC 777, through tmux too) when the run ends",
                          group="outputs")
    notify_url: str | None = option(None, "POST a one-line JSON summary of the run's ending "
                                    "to URL", check=check_url, metavar="URL", group="outputs")
    nproc_per_node: int = option(1, "training processes on this machine, launched through "
                                 "torchrun (one a GPU on CUDA)", check=positive(MAX_PROCESSES),
                                 metavar="N", group="several processes")
    nnodes: int = option(1, "machines in the job (start trainui train on each, with "
                         "--node-rank and --rdzv-endpoint)", check=positive(MAX_PROCESSES),
                         metavar="M", group="several processes")
    max_restarts: int = option(0, "times torchrun restarts a job whose process failed (it "
                               "resumes from the last checkpoint)", check=non_negative(100),
                               metavar="N", group="several processes")
    seed: int = option(42, "seeds Python, NumPy, torch and the data order", check=_seed,
                       metavar="N")
    deterministic: bool = option(False, "deterministic algorithms only (slower, reproducible)")
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps")
    run_dir: str | None = option(None, "run directory (default runs/<dataset>-<model>-<time>)",
                                 metavar="DIR")
    runs_root: str = option("runs", "folder of run directories", flag=False)
    checkpoint_every: int = option(0, "also keep a checkpoint every N epochs (0: off)",
                                   check=non_negative(), metavar="N")
    progress_interval: float = option(0.25, "seconds between progress events",
                                      check=positive(), flag=False)
    val_fraction: float = option(0.1, "share of a torchvision training split held out",
                                 check=within(0.0, 1.0), flag=False)

    def __post_init__(self) -> None:
        if self.monitor.endswith("_acc") and self.monitor_mode == "min":
            self.monitor_mode = "max"  # accuracy-like metrics improve upwards

    def check(self) -> RunConfig:
        """Raise TrainuiError naming the first bad value; return self when all are fine."""
        for spec in dataclasses.fields(self):
            problem = check_value(spec.name, getattr(self, spec.name))
            if problem is not None:
                raise TrainuiError(f"{display_name(spec.name)} {problem}")
        if self.amp == "fp16" and self.device == "cpu":  # said before torch loads, too
            raise TrainuiError("--amp fp16 needs a GPU: on the CPU it runs hundreds of times "
                               "slower; use --amp bf16 or --amp off")
        if self.tensorboard:
            require("tensorboard", "--tensorboard")
        if self.plots:
            require("matplotlib", "--plots")
        return self

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> RunConfig:
        """A checked config from `to_dict` output; keys this version does not know are ignored.

        Raises TrainuiError for anything but a JSON object whose known values have the
        field's type and pass its check (a stored `epochs` of `2.5` or `true` is refused).
        """
        if not isinstance(data, dict):
            raise TrainuiError(f"a run config must be a JSON object, not {_json_type(data)}")
        hints = _field_types()
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name in hints:
                if not _has_type(value, hints[name]):
                    raise TrainuiError(f"{display_name(name)} must be "
                                       f"{_type_words(hints[name])}, got {_as_json(value)}")
                values[name] = float(value) if _wants_float(hints[name], value) else value
        return cls(**values).check()


def check_value(name: str, value: Any) -> str | None:
    """Why `value` is wrong for the config field `name`, or None."""
    spec = FIELDS[name]
    check = spec.metadata.get("check")
    if value is None or check is None:
        return None
    return typing.cast(Check, check)(value)


def display_name(name: str) -> str:
    """How messages name a field: `batch size` for `batch_size`."""
    return name.replace("_", " ")


FIELDS = {spec.name: spec for spec in dataclasses.fields(RunConfig)}


def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(RunConfig)


def _has_type(value: Any, hint: Any) -> bool:
    allowed = typing.get_args(hint) or (hint,)
    if value is None:
        return type(None) in allowed
    if isinstance(value, bool):
        return bool in allowed
    if isinstance(value, int):
        return int in allowed or float in allowed
    if isinstance(value, float):
        return float in allowed and math.isfinite(value)
    return isinstance(value, str) and str in allowed


def _wants_float(hint: Any, value: Any) -> bool:
    allowed = typing.get_args(hint) or (hint,)
    return isinstance(value, int) and not isinstance(value, bool) and float in allowed \
        and int not in allowed


def _type_words(hint: Any) -> str:
    words = {str: "a string", int: "an integer", float: "a finite number", bool: "true or false",
             type(None): "null"}
    return " or ".join(words[t] for t in (typing.get_args(hint) or (hint,)))


def _as_json(value: Any) -> str:
    """A value as config.json spells it: true, not True; Infinity for 1e400."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    return "null" if value is None else f"a {type(value).__name__}"
