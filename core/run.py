"""A whole run from a RunConfig: data, model, optimizer, callbacks, run directory, fit."""

from __future__ import annotations

import json
import os
import time
import traceback
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from . import seeding
from .callbacks import Checkpointing, EarlyStopping, LRScheduling
from .checkpoint import load_checkpoint, load_model_weights
from .config import RunConfig
from .control import Control
from .control_channel import ControlChannel
from .data import DataSplits, load_dataset
from .devices import resolve_device
from .errors import TrainuiError
from .event_log import EVENT_LOG, EventLogSink
from .events import EventBus, Failed, Finished, RunStarted, Sink
from .files import FileWriter
from .history import History
from .loop import fit
from .models import build_model, parameter_count
from .optim import build_optimizer, build_scheduler
from .rundir import (
    RunFilesSink,
    RunLock,
    create_run_dir,
    new_run_name,
    refuse_existing_run,
)

VERSION = "0.1.0"


@dataclass
class RunResult:
    """What a finished run produced."""

    run_dir: Path
    history: History
    metrics: dict[str, Any] | None
    cause: str
    reason: str


def run_training(
    config: RunConfig,
    sinks: Sequence[Sink] = (),
    control: Control | None = None,
    *,
    resume: str | os.PathLike[str] | None = None,
) -> RunResult:
    """Train and evaluate as `config` says; every fact leaves through `sinks` as events.

    With `resume=RUN_DIR`, the run's stored config is used instead and training continues
    from its `checkpoints/last.pt` (or from the start when none was written yet).
    Raises TrainuiError for bad input (after a `Failed` event); unexpected errors also
    emit `Failed` and write the traceback to `RUN_DIR/error.log` before propagating.
    """
    outcome = _Outcome()
    bus = EventBus([*sinks, outcome])
    try:
        history = _train(config, bus, control or Control(), outcome,
                         None if resume is None else Path(resume))
    except TrainuiError as exc:
        bus.emit(Failed(message=str(exc)))
        raise
    except Exception as exc:
        log = _write_traceback(outcome.run_dir)
        bus.emit(Failed(message=f"{type(exc).__name__}: {exc}" + (f" (see {log})" if log else "")))
        raise
    assert outcome.run_dir is not None
    return RunResult(outcome.run_dir, history, outcome.metrics, outcome.cause, outcome.reason)


class _Outcome:
    """Remembers the run directory and the Finished event for the RunResult."""

    run_dir: Path | None = None
    metrics: dict[str, Any] | None = None
    cause = "failed"
    reason = ""

    def __call__(self, event: object) -> None:
        if isinstance(event, Finished):
            self.metrics, self.cause, self.reason = event.metrics, event.cause, event.reason


def _new_run_dir(config: RunConfig) -> Path:
    """Create the folder and its config.json, once everything else has been checked."""
    name = new_run_name(config.dataset, config.model)
    run_dir = create_run_dir(config.run_dir, config.runs_root, name)
    FileWriter(run_dir).write_json("config.json", config.to_dict())
    return run_dir


def _resume_point(run_dir: Path) -> tuple[RunConfig, dict[str, Any] | None]:
    """The stored config and the last checkpoint (None when none was written)."""
    config_path = run_dir / "config.json"
    if not config_path.is_file():
        raise TrainuiError(f"cannot resume {run_dir}: no config.json there (not a trainui run)")
    try:
        config = RunConfig.from_dict(json.loads(config_path.read_text())).validate()
    except (ValueError, TypeError) as exc:
        raise TrainuiError(f"cannot resume {run_dir}: config.json is unreadable ({exc})") from None
    config.run_dir = str(run_dir)
    last = run_dir / "checkpoints" / "last.pt"
    return config, load_checkpoint(last) if last.exists() else None


@dataclass
class _Parts:
    """Everything a run trains with, built and checked before any file is written."""

    device: torch.device
    data: DataSplits
    loaders: tuple[DataLoader, DataLoader, DataLoader]
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any


def _build(config: RunConfig, payload: dict[str, Any] | None, source: str) -> _Parts:
    device = resolve_device(config.device)
    seeding.seed_everything(config.seed)
    seeding.set_deterministic(config.deterministic)
    data = load_dataset(config.dataset, config.data_dir, download=config.download,
                        seed=config.seed, val_fraction=config.val_fraction)
    loaders = make_loaders(data, config, device)
    model = build_model(config.model, data.input_shape, data.num_classes).to(device)
    if payload is not None:
        load_model_weights(model, payload["model_state_dict"], source, config.model)
    optimizer = build_optimizer(model.parameters(), config)
    scheduler = build_scheduler(optimizer, config, len(loaders[0]))
    return _Parts(device, data, loaders, model, optimizer, scheduler)


def _train(config: RunConfig, bus: EventBus, control: Control, outcome: _Outcome,
           resume_dir: Path | None) -> History:
    started = time.time()
    with ExitStack() as cleanup:
        payload = None
        if resume_dir is not None:
            outcome.run_dir = resume_dir
            cleanup.enter_context(RunLock(resume_dir))
            config, payload = _resume_point(resume_dir)
        else:
            config.validate()
            if config.run_dir:
                refuse_existing_run(Path(config.run_dir))
        source = str(resume_dir / "checkpoints" / "last.pt") if resume_dir else ""
        parts = _build(config, payload, source)
        if resume_dir is None:
            outcome.run_dir = _new_run_dir(config)
            cleanup.enter_context(RunLock(outcome.run_dir))
        run_dir = outcome.run_dir
        _subscribe_run_files(bus, run_dir, payload, cleanup)
        channel = _open_channel(run_dir, control)  # before RunStarted: watchers see it live
        if channel is not None:
            cleanup.callback(channel.close)
        bus.emit(_run_started(config, run_dir, parts, len(parts.loaders[0]),
                              payload["epoch"] if payload else 0))
        return fit(
            parts.model, parts.loaders[0], parts.loaders[1], nn.CrossEntropyLoss(),
            parts.optimizer, epochs=config.epochs, device=parts.device,
            scheduler=parts.scheduler, callbacks=_callbacks(config, parts.scheduler, run_dir),
            sinks=[bus.emit], control=control, amp=config.amp, clip_grad=config.clip_grad,
            progress_interval=config.progress_interval, test_loader=parts.loaders[2],
            class_names=parts.data.class_names, metadata=_metadata(config, parts.data, started),
            resume_from=payload,
        )


def _open_channel(run_dir: Path, control: Control) -> ControlChannel | None:
    try:
        return ControlChannel(run_dir, control)
    except OSError:
        return None  # a file system without FIFOs: the run works, uncontrollable from outside


def _subscribe_run_files(bus: EventBus, run_dir: Path, payload: dict[str, Any] | None,
                         cleanup: ExitStack) -> None:
    files = RunFilesSink(FileWriter(run_dir))
    if payload is not None:
        history = History()
        history.load_state_dict(payload["history"])
        files.load_history(history.rows())  # drops any epoch logged after the checkpoint
    bus.subscribe(files)
    event_log = EventLogSink(run_dir / EVENT_LOG)
    cleanup.callback(event_log.close)
    bus.subscribe(event_log)


def _callbacks(config: RunConfig, scheduler: Any, run_dir: Path) -> list[Any]:
    callbacks: list[Any] = [
        EarlyStopping(config.monitor, config.monitor_mode, config.patience, config.min_delta),
        Checkpointing(run_dir / "checkpoints", monitor=config.monitor, mode=config.monitor_mode,
                      every_n_epochs=config.checkpoint_every,
                      final_weights=run_dir.resolve() / "final_model.pt"),
    ]
    if scheduler is not None:
        callbacks.append(LRScheduling(scheduler))
    return callbacks


def make_loaders(
    data: DataSplits, config: RunConfig, device: torch.device
) -> tuple[DataLoader, DataLoader, DataLoader]:
    """Train (seeded shuffle), validation and test loaders."""
    common: dict[str, Any] = {
        "batch_size": config.batch_size,
        "num_workers": config.num_workers,
        "pin_memory": device.type == "cuda",
        # Not persistent: each epoch's iterator then draws its worker seed the same way,
        # so a resumed run sees the same data order as an uninterrupted one.
        "persistent_workers": False,
    }
    if config.num_workers > 0:
        common["worker_init_fn"] = _seed_worker
    shuffle_order = torch.Generator().manual_seed(config.seed)
    return (
        DataLoader(data.train, shuffle=True, generator=shuffle_order, **common),
        DataLoader(data.val, shuffle=False, **common),
        DataLoader(data.test, shuffle=False, **common),
    )


def _seed_worker(worker_id: int) -> None:
    # Each worker derives its Python/NumPy seeds from torch's per-worker seed.
    seeding.seed_everything(torch.initial_seed() % 2**32)


def _run_started(config: RunConfig, run_dir: Path, parts: _Parts, steps_per_epoch: int,
                 start_epoch: int) -> RunStarted:
    data = parts.data
    return RunStarted(
        run_name=run_dir.name, run_dir=str(run_dir), config=config.to_dict(),
        device=str(parts.device), model_name=config.model,
        parameter_count=parameter_count(parts.model),
        dataset_name=data.name, train_size=len(data.train), val_size=len(data.val),  # type: ignore[arg-type]
        test_size=len(data.test), class_names=list(data.class_names),  # type: ignore[arg-type]
        epochs=config.epochs, steps_per_epoch=steps_per_epoch, start_epoch=start_epoch,
    )


def _metadata(config: RunConfig, data: DataSplits, started: float) -> dict[str, Any]:
    return {
        "config": config.to_dict(),
        "model_name": config.model,
        "dataset_name": data.name,
        "class_names": list(data.class_names),
        "num_classes": data.num_classes,
        "input_shape": list(data.input_shape),
        "trainui_version": VERSION,
        "started_at": started,
    }


def _write_traceback(run_dir: Path | None) -> Path | None:
    if run_dir is None:
        return None
    try:
        return FileWriter(run_dir).write_text("error.log", traceback.format_exc())
    except OSError:
        return None
