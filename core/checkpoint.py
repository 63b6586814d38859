"""The checkpoint format: its layout and version, writing it from a loop, reading it back.

Every checkpoint trainui writes is a dict of tensors and plain values, loaded only with
`weights_only=True` (nothing in it can run code). This module is the one place that knows
its keys: the loop, the checkpointing callback, resume and `trainui eval` all call it.
"""

from __future__ import annotations

import os
import pickle
import time
import typing
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from . import seeding
from .errors import TrainuiError, one_line
from .outcome import StopCause

if TYPE_CHECKING:
    from .loop import Loop

FORMAT = "trainui-checkpoint"
FORMAT_VERSION = 1
RESUME_KEYS = ("model_state_dict", "optimizer_state_dict", "scaler_state_dict", "epoch",
               "global_step", "history", "rng_state")
"""What a checkpoint needs for `--resume` (the common layout's keys come first)."""


def snapshot(loop: Loop, reason: str) -> dict[str, Any]:
    """Everything needed to resume `loop` exactly: weights, optimizer, scheduler, scaler,
    callbacks, history, RNG states, data order; plus the loop's metadata (config, names).

    Metadata may not reuse a key of the layout: that would silently replace the state.
    """
    early_stopped = loop.stop_cause == StopCause.EARLY_STOPPING
    state = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "reason": reason,
        "model_state_dict": loop.model.state_dict(),
        "optimizer_state_dict": loop.optimizer.state_dict(),
        "scheduler_state_dict": loop.scheduler.state_dict() if loop.scheduler else None,
        "scaler_state_dict": loop.precision.scaler.state_dict(),
        "epoch": loop.epoch,
        "global_step": loop.global_step,
        "loss": loop.last_metrics.get("val_loss"),
        "metrics": dict(loop.last_metrics),
        "callbacks": {cb.state_key: cb.state_dict() for cb in loop.callbacks},
        "history": loop.history.state_dict(),
        "stop_cause": str(loop.stop_cause) if early_stopped else None,
        "stop_reason": loop.stop_reason if early_stopped else "",
        "elapsed": loop.elapsed(),
        "rng_state": seeding.rng_state(),
        **_job_state(loop),
        "data_generator_state": (
            loop.data_generator.get_state() if loop.data_generator is not None else None
        ),
        "saved_at": time.time(),
    }
    clash = sorted(set(loop.metadata) & set(state))
    if clash:
        raise ValueError(f"checkpoint metadata may not replace {', '.join(clash)}")
    return {**loop.metadata, **state}


def restore(loop: Loop, payload: dict[str, Any]) -> None:
    """Put a loop back into the state a checkpoint recorded."""
    loop.model.load_state_dict(payload["model_state_dict"])
    loop.optimizer.load_state_dict(payload["optimizer_state_dict"])
    if loop.scheduler is not None and payload.get("scheduler_state_dict") is not None:
        loop.scheduler.load_state_dict(payload["scheduler_state_dict"])
    loop.precision.scaler.load_state_dict(payload["scaler_state_dict"])
    states = payload.get("callbacks", {})
    for callback in loop.callbacks:
        if callback.state_key in states:
            callback.load_state_dict(states[callback.state_key])
    loop.history.load_state_dict(payload["history"])
    loop.epoch, loop.global_step = int(payload["epoch"]), int(payload["global_step"])
    loop.last_metrics = dict(payload.get("metrics") or {})
    loop.elapsed_before = float(payload.get("elapsed") or 0.0)
    if payload.get("stop_cause"):  # early stopping had ended it: resuming only evaluates
        loop.stop(StopCause(payload["stop_cause"]), payload["stop_reason"])
    seeding.set_rng_state(_own_rng_state(loop, payload))
    generator_state = payload.get("data_generator_state")
    if loop.data_generator is not None and generator_state is not None:
        loop.data_generator.set_state(generator_state)


def _job_state(loop: Loop) -> dict[str, Any]:
    """In a job of several processes: its size and every rank's RNG states (a collective:
    every rank snapshots at the same point)."""
    if loop.world is None:
        return {}
    from .distributed import gather

    return {"world_size": loop.world.size, "rank_rng_states": gather(seeding.rng_state(),
                                                                     loop.world)}


def _own_rng_state(loop: Loop, payload: dict[str, Any]) -> dict[str, Any]:
    """This process's RNG states in the checkpoint; TrainuiError for another job size."""
    size = loop.world.size if loop.world is not None else 1
    stored = int(payload.get("world_size") or 1)
    if stored != size:
        raise TrainuiError(f"the checkpoint was written by {_processes(stored)}, this job has "
                           f"{_processes(size)}: resume with the same number of processes")
    if loop.world is None:
        return typing.cast(dict[str, Any], payload["rng_state"])
    return typing.cast(dict[str, Any], payload["rank_rng_states"][loop.world.rank])


def _processes(count: int) -> str:
    return "1 process" if count == 1 else f"{count} processes"


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint (or a plain state_dict file) onto the CPU, or raise TrainuiError."""
    path = Path(path)
    try:
        if not path.exists():
            raise TrainuiError(f"checkpoint not found: {path}")
        if path.is_dir():
            raise TrainuiError(f"checkpoint path is a directory, not a file: {path}")
    except PermissionError:  # a folder on the way is closed to this user
        raise TrainuiError(f"cannot read checkpoint {path}: permission denied") from None
    try:
        with warnings.catch_warnings():
            # torch warns about legacy formats before failing; trainui says it in one line.
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise TrainuiError(_unpickling_message(path, exc)) from None
    except PermissionError:
        raise TrainuiError(f"cannot read checkpoint {path}: permission denied") from None
    except Exception as exc:  # torch.load fails on garbage with many types (KeyError too)
        raise TrainuiError(_corrupt_message(path, _first_line(exc))) from None
    if not isinstance(payload, dict):
        raise TrainuiError(f"checkpoint {path} holds a {type(payload).__name__}, not a dict")
    return payload


def load_resume_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A full trainui checkpoint to continue training from, checked, or TrainuiError."""
    payload = load_checkpoint(path)
    if payload.get("format") != FORMAT:
        raise TrainuiError(f"cannot resume from {path}: it is not a full trainui checkpoint "
                           "(a plain state_dict holds weights only)")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise TrainuiError(f"cannot resume from {path}: checkpoint format {version!r} is "
                           f"newer than this trainui reads ({FORMAT_VERSION})")
    missing = [key for key in RESUME_KEYS if key not in payload]
    if missing:
        raise TrainuiError(f"cannot resume from {path}: it lacks {', '.join(missing)}")
    check_finite(model_state_of(payload, path), path)
    return payload


def model_state_of(payload: dict[str, Any], path: str | os.PathLike[str]) -> dict[str, Any]:
    """The model weights of a trainui checkpoint or of a plain state_dict file."""
    state = payload.get("model_state_dict", payload)
    if not isinstance(state, dict) or not state or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise TrainuiError(f"checkpoint {path} holds no model weights (no model_state_dict)")
    return state


def epochs_done(payload: dict[str, Any]) -> int:
    """Epochs a checkpoint's run had completed."""
    return int(payload.get("epoch") or 0)


EARLY_STOPPING_STATE = "EarlyStopping"
"""The key of the early-stopping callback's state among a checkpoint's `callbacks`."""


def train_on(payload: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint of a run early stopping ended, made to train on (the run was extended):
    the stop forgotten and early stopping's wait counter back at 0, so it gets its patience
    afresh; its best value and epoch are kept. Any other checkpoint is returned as it is."""
    if not payload.get("stop_cause"):
        return payload
    callbacks = dict(payload.get("callbacks") or {})
    state = callbacks.get(EARLY_STOPPING_STATE)
    if isinstance(state, dict):
        callbacks[EARLY_STOPPING_STATE] = {**state, "wait_count": 0, "stopped_epoch": None,
                                           "reason": ""}
    return {**payload, "stop_cause": None, "stop_reason": "", "callbacks": callbacks}


def elapsed_of(payload: dict[str, Any]) -> float:
    """Seconds the run had trained when the checkpoint was written."""
    return float(payload.get("elapsed") or 0.0)


def history_rows(payload: dict[str, Any]) -> list[dict[str, float]]:
    """The per-epoch history a checkpoint holds, as rows."""
    from .history import History  # here: history needs torch only to save, not to read

    history = History()
    history.load_state_dict(payload["history"])
    return history.rows()


def stored_config(payload: dict[str, Any]) -> dict[str, Any] | None:
    """The run config a trainui checkpoint was written with, if it has one."""
    config = payload.get("config")
    return config if isinstance(config, dict) else None


def check_finite(state: dict[str, torch.Tensor], path: str | os.PathLike[str]) -> None:
    """Refuse weights holding NaN or infinity (a file whose tensor bytes were damaged)."""
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise TrainuiError(
                f"checkpoint {path} is corrupt: weight {name!r} holds NaN or infinite values"
            )


def load_model_weights(model: nn.Module, state: dict[str, Any], path: str, model_name: str) -> None:
    """Load weights into `model`, turning key/shape mismatches into one clear line."""
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise TrainuiError(
            f"checkpoint {path} does not fit model {model_name!r}: {one_line(str(exc), 200)}"
        ) from None


# What torch's weights-only unpickler says when a file asks it to import or call something;
# every other refusal of it (an unknown opcode, say) comes from bytes that are no pickle.
_CODE_MARKERS = (
    "Unsupported global", "is blocked", "unrecognized function", "Can only create new object",
    "Can only build",
)


def _unpickling_message(path: Path, exc: Exception) -> str:
    text = str(exc)
    if any(marker in text for marker in _CODE_MARKERS):
        return (
            f"refusing to load checkpoint {path}: it contains pickled code or objects "
            "that are not plain weights (nothing from it was run)"
        )
    cause = text.rpartition("WeightsUnpickler error:")[2]  # torch's cause, not its advice
    return _corrupt_message(path, _first_line(exc, cause))


# How torch.save's legacy (non-zip) format begins: its magic number, pickled.
_LEGACY_TORCH_START = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)[:-1]


def _corrupt_message(path: Path, cause: str) -> str:
    """A file torch could not read: a plain pickle says so, anything else is corrupt."""
    try:
        with open(path, "rb") as handle:
            start = handle.read(len(_LEGACY_TORCH_START))
    except OSError:
        start = b""
    pickled = start[:1] == b"\x80" and start[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")
    if pickled and not start.startswith(_LEGACY_TORCH_START):
        return (f"checkpoint {path} is a plain pickle file, not one torch.save wrote "
                "(trainui reads only torch checkpoints, and never unpickles code)")
    return f"checkpoint {path} is truncated or corrupt ({cause})"


def _first_line(exc: Exception, text: str | None = None) -> str:
    lines = str(exc if text is None else text).strip().splitlines()
    if not lines:
        return type(exc).__name__
    return one_line(lines[0], 160)
