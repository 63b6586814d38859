"""A whole run from a RunConfig: data, model, optimizer, callbacks, run directory, fit.

A run starts in one of three ways, all ending in the same training code:
- `run_training(config)`: a new run; everything is built and checked before its directory
  is made, so bad input leaves nothing behind;
- `train_prepared(run_dir)`: a new run whose directory and config.json another trainui
  process made (the live view and `--detach` start their trainer this way);
- `run_training(..., resume=run_dir)`: a run continued from its last checkpoint
  (to train it beyond its epochs: `extend_run`, then `train_prepared(run_dir, resume=True,
  extend=True)`, which also lets a run that early stopping ended train on).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import time
import traceback
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from . import seeding
from .callbacks import Checkpointing, EarlyStopping, LRScheduling, Rollback
from .checkpoint import (
    elapsed_of,
    epochs_done,
    history_rows,
    load_model_weights,
    load_resume_checkpoint,
    model_state_of,
    train_on,
)
from .config import EPOCH_SHAPED_SCHEDULERS, RunConfig
from .control import Control
from .control_channel import ControlChannel
from .data import DataSplits, ShardSampler, load_dataset
from .devices import resolve_device
from .distributed import World, current, device_for, share
from .errors import RunFailed, TrainuiError, one_line
from .events import EventBus, Failed, Finished, RunStarted, Sink, StageStarted
from .files import FileWriter
from .history import History
from .loop import fit
from .models import build_model, parameter_count
from .optim import build_optimizer, build_scheduler
from .outcome import ExitCode
from .preflight import check_run_inputs, data_errors_explained
from .run_dir import (
    CONFIG,
    RunLock,
    check_run_dir,
    create_new_run_dir,
    read_config,
    refuse_unusable,
    store_epochs,
)
from .run_files import RunFilesSink
from .run_record import OpenedRun, RunRecord, open_run
from .version import __version__
from .workers import die_with_parent

LAST_CHECKPOINT = Path("checkpoints") / "last.pt"


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
    views: Sequence[Sink] = (),
) -> RunResult:
    """Train and evaluate as `config` says; every fact leaves through `sinks` as events.

    `views` are sinks that only show the run (console lines, a live view): one that fails
    is detached with a warning and training goes on, where a failing sink fails the run.

    With `resume=RUN_DIR`, the run's stored config is used instead and training continues
    from its `checkpoints/last.pt` (or from the start when none was written yet).
    Raises TrainuiError for bad input (after a `Failed` event); unexpected errors also
    emit `Failed` and write the traceback to `RUN_DIR/error.log` before propagating.
    """
    start = _Start(config=config) if resume is None else _Start(run_dir=Path(resume),
                                                                resume=True)
    return _run(start, sinks, views, control)


def train_prepared(
    run_dir: str | os.PathLike[str], sinks: Sequence[Sink] = (), control: Control | None = None,
    *, views: Sequence[Sink] = (), resume: bool = False, opened: OpenedRun | None = None,
    extend: bool = False,
) -> RunResult:
    """Train the new run whose directory and config.json another trainui process made
    (or, with `resume`, continue a run; `extend`: one `extend_run` just extended, which
    trains on even if early stopping had ended it). `opened` is the run already locked
    and recording, as the trainer process opens it before its slow imports."""
    start = _Start(run_dir=Path(run_dir), resume=resume, opened=opened, extend=extend)
    return _run(start, sinks, views, control)


def train_as_rank(sinks: Sequence[Sink] = (), control: Control | None = None) -> RunResult:
    """Train as a rank of a job that another process records (see core/distributed.py):
    the config, checkpoint and run directory come from the recording rank; nothing is
    written. `control` takes no requests: the recording rank's reach every rank."""
    return _run(_Start(), sinks, (), control)


def extend_run(run_dir: Path, epochs: int) -> RunConfig:
    """Make a run, when resumed next, train up to `epochs` epochs in all (counted from its
    start): checked, then stored in its config.json; return its config.

    Raises TrainuiError, writing nothing, for a run that cannot be resumed (or that a
    process trains), one that has done `epochs` already, or one whose step, cosine or
    onecycle schedule was laid out over its epochs (unless `epochs` leaves them as they
    are, or it has not finished an epoch yet).
    """
    check_run_dir(run_dir, "resume")
    with RunLock(run_dir):  # no trainer starts (or writes it) while it is changed
        config = read_config(run_dir, "resume")
        last = run_dir / LAST_CHECKPOINT
        done = epochs_done(load_resume_checkpoint(last)) if last.exists() else 0
        _check_extension(run_dir, config, epochs, done)
        if epochs != config.epochs:
            store_epochs(run_dir, epochs)
            config.epochs = epochs
    return config


def _check_extension(run_dir: Path, config: RunConfig, epochs: int, done: int) -> None:
    what = f"cannot extend {run_dir} to {epochs} epoch{'' if epochs == 1 else 's'}"
    if epochs <= done:
        raise TrainuiError(f"{what}: it has done {done} already")
    if done and epochs != config.epochs and config.scheduler in EPOCH_SHAPED_SCHEDULERS:
        raise TrainuiError(
            f"{what}: its {config.scheduler} schedule is laid out over its {config.epochs} "
            "epochs (runs with the plateau or none scheduler can be extended; start a new "
            "run for a longer schedule)")


@dataclass
class _Start:
    """How this run starts: a new config, a prepared directory, or a resume."""

    config: RunConfig | None = None
    run_dir: Path | None = None
    resume: bool = False
    opened: OpenedRun | None = None
    extend: bool = False


def _run(start: _Start, sinks: Sequence[Sink], views: Sequence[Sink],
         control: Control | None) -> RunResult:
    outcome = _Outcome()
    bus = EventBus([*sinks, outcome])
    for view in views:
        bus.subscribe(view, optional=True)
    # The run's files close after its last event (Failed included) is written; when the
    # run fails, an error closing them (the same full disk) must not hide why it failed.
    cleanup = ExitStack()
    try:
        with data_errors_explained("training"):
            history = _train(start, bus, control or Control(), outcome, cleanup)
    except TrainuiError as exc:
        bus.emit_final(Failed(message=str(exc), exit_code=ExitCode.USAGE))
        _close_quietly(cleanup)
        raise
    except Exception as exc:
        log = _write_traceback(outcome.run_dir) if _records() else None
        message = failure_message(exc) + (f" (see {log})" if log else "")
        bus.emit_final(Failed(message=message))
        _close_quietly(cleanup)
        raise RunFailed(message) from exc
    except BaseException:  # a second Ctrl+C: stop at once, the run left to resume
        _close_quietly(cleanup)
        raise
    cleanup.close()
    assert outcome.run_dir is not None
    return RunResult(outcome.run_dir, history, outcome.metrics, outcome.cause, outcome.reason)


def _records() -> bool:
    """Whether this process writes the run's files (a lone one, or a job's recording rank)."""
    world = current()
    return world is None or world.records


def _close_quietly(cleanup: ExitStack) -> None:
    with contextlib.suppress(Exception):
        cleanup.close()


def failure_message(exc: BaseException) -> str:
    """One line for an unexpected error; a full disk says so."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        where = f" writing {exc.filename}" if exc.filename else ""
        return f"disk full{where}: no space left on device"
    if type(exc).__module__.startswith(("torch._dynamo", "torch._inductor")):
        return f"torch.compile failed ({one_line(exc, 300)}); train without --compile"
    return one_line(exc)


class _Outcome:
    """Remembers the run directory and the Finished event for the RunResult."""

    run_dir: Path | None = None
    record: RunRecord | None = None
    metrics: dict[str, Any] | None = None
    cause = "failed"
    reason = ""

    def __call__(self, event: object) -> None:
        if isinstance(event, Finished):
            self.metrics, self.cause, self.reason = event.metrics, event.cause, event.reason


@dataclass
class _Parts:
    """Everything a run trains with, built and checked before any file is written."""

    device: torch.device
    data: DataSplits
    loaders: tuple[DataLoader, DataLoader, DataLoader]
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any


def _build(config: RunConfig, bus: EventBus, payload: dict[str, Any] | None,
           source: str) -> _Parts:
    world = current()
    device = resolve_device(config.device)
    if world is not None:
        device = device_for(world, device)
    seeding.seed_everything(config.seed)
    seeding.set_deterministic(config.deterministic)
    bus.emit(StageStarted(stage=f"loading data set {config.dataset}"))
    data = load_dataset(config.dataset, config.data_dir, download=config.download,
                        seed=config.seed, val_fraction=config.val_fraction)
    loaders = make_loaders(data, config, device, world)
    bus.emit(StageStarted(stage=f"building model {config.model}"))
    model = build_model(config.model, data.input_shape, data.num_classes).to(device)
    if payload is not None:
        load_model_weights(model, model_state_of(payload, source), source, config.model)
    check_run_inputs(config, data, loaders, model, device)
    if world is not None:  # the same initial weights everywhere; each rank its own dropout
        seeding.seed_everything(config.seed + world.rank)
    optimizer = build_optimizer(model.parameters(), config)
    scheduler = build_scheduler(optimizer, config, len(loaders[0]))
    return _Parts(device, data, loaders, model, optimizer, scheduler)


def _open(start: _Start, outcome: _Outcome, bus: EventBus,
          cleanup: ExitStack) -> tuple[RunConfig, Any]:
    """The run directory held and recording (opened here unless the caller did): its
    config and, to resume, its last checkpoint."""
    assert start.run_dir is not None
    opened = start.opened or open_run(start.run_dir, resume=start.resume)
    cleanup.callback(opened.close)
    bus.subscribe(opened.record)
    outcome.run_dir, outcome.record = start.run_dir, opened.record
    last = start.run_dir / LAST_CHECKPOINT
    if start.resume and last.exists():
        bus.emit(StageStarted(stage="loading the last checkpoint"))
        payload = load_resume_checkpoint(last)
        return opened.config, train_on(payload) if start.extend else payload
    return opened.config, None


def _train(start: _Start, bus: EventBus, control: Control, outcome: _Outcome,
           cleanup: ExitStack) -> History:
    world = current()
    if world is not None and not world.records:
        return _train_rank(bus, control, outcome, world)
    started = time.time()
    if start.config is not None:
        config, payload = start.config.check(), None
        if config.run_dir:
            refuse_unusable(Path(config.run_dir))  # said before the (long) set-up
    else:
        config, payload = _open(start, outcome, bus, cleanup)
    source = str(start.run_dir / LAST_CHECKPOINT) if start.run_dir is not None else ""
    if world is not None:
        if start.config is not None:  # started by torchrun itself: its size is the run's
            config.nproc_per_node, config.nnodes = world.local_size, world.size // world.local_size
        share((config.to_dict(), payload), world)
    parts = _build(config, bus, payload, source)
    if start.config is not None:
        outcome.run_dir = create_new_run_dir(config)
        config.run_dir = str(outcome.run_dir)
        FileWriter(outcome.run_dir).write_json(CONFIG, config.to_dict())
        cleanup.enter_context(RunLock(outcome.run_dir))
        new_record = RunRecord(outcome.run_dir)
        cleanup.callback(new_record.close)
        bus.subscribe(new_record)
        outcome.record = new_record
    run_dir, record = outcome.run_dir, outcome.record
    assert run_dir is not None and record is not None
    if world is not None:
        share(str(run_dir), world)
    # First: when events.jsonl says Finished, metrics.json is there for whoever reads it.
    files = _run_files(run_dir, payload)
    cleanup.callback(files.close)
    bus.subscribe(files, first=True)
    channel = _open_channel(run_dir, control)  # before RunStarted: watchers see it live
    if channel is not None:
        cleanup.callback(channel.close)
    callbacks = _callbacks(config, parts.scheduler, run_dir)
    callbacks += _outputs(config, run_dir, bus, record, cleanup)
    bus.emit(_run_started(config, run_dir, parts, payload))
    return _fit(config, parts, bus, control, callbacks, payload, started)


def _train_rank(bus: EventBus, control: Control, outcome: _Outcome, world: World) -> History:
    """A rank that does not record: the recording rank's config, checkpoint and run
    directory; the same training, and nothing written."""
    stored, payload = share(None, world)
    config = RunConfig.from_dict(stored)
    parts = _build(config, bus, payload, "the recording rank's checkpoint")
    outcome.run_dir = Path(share(None, world))
    callbacks = _callbacks(config, parts.scheduler, outcome.run_dir, records=False)
    return _fit(config, parts, bus, control, callbacks, payload, time.time())


def _fit(config: RunConfig, parts: _Parts, bus: EventBus, control: Control,
         callbacks: list[Any], payload: dict[str, Any] | None, started: float) -> History:
    return fit(
        parts.model, parts.loaders[0], parts.loaders[1], nn.CrossEntropyLoss(),
        parts.optimizer, epochs=config.epochs, device=parts.device,
        scheduler=parts.scheduler, callbacks=callbacks,
        sinks=[bus.emit], control=control, amp=config.amp, clip_grad=config.clip_grad,
        progress_interval=config.progress_interval, test_loader=parts.loaders[2],
        class_names=parts.data.class_names, metadata=_metadata(config, parts.data, started),
        resume_from=payload, compile_model=config.compile, channels_last=config.channels_last,
    )


def _outputs(config: RunConfig, run_dir: Path, bus: EventBus, record: RunRecord,
             cleanup: ExitStack) -> list[Any]:
    """What `--tensorboard` and `--plots` add: sinks, and the callback of histograms."""
    callbacks: list[Any] = []
    if config.tensorboard:
        from .tensorboard import TensorBoardSink

        board = TensorBoardSink(run_dir)
        bus.subscribe(board)  # essential, as the run's other files: a full disk fails it
        record.listen(board.written)
        cleanup.callback(board.close)
        callbacks.append(board)
    if config.plots:
        bus.subscribe(PlotsAtEnd(run_dir), optional=True)  # the run is done: a warning
    if config.notify or config.notify_url:
        from .notify import NotifySink

        # Headless on a terminal, this process rings it; under the live view, the view does.
        terminal = sys.stdout if config.notify and sys.stdout.isatty() else None
        bus.subscribe(NotifySink(run_dir, url=config.notify_url, terminal=terminal),
                      optional=True)
    return callbacks


class PlotsAtEnd:
    """Writes history.png and confusion_matrix.png when the run finishes (`--plots`)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def __call__(self, event: object) -> None:
        if isinstance(event, Finished):
            from .plots import write_plots
            from .run_results import load_results

            write_plots(load_results(self.run_dir, "plot"))


def _open_channel(run_dir: Path, control: Control) -> ControlChannel | None:
    try:
        return ControlChannel(run_dir, control)
    except OSError:
        return None  # a file system without FIFOs: the run works, uncontrollable from outside


def _run_files(run_dir: Path, payload: dict[str, Any] | None) -> RunFilesSink:
    files = RunFilesSink(FileWriter(run_dir))
    if payload is not None:
        files.load_history(history_rows(payload))  # drops epochs logged after the checkpoint
    return files


def _callbacks(config: RunConfig, scheduler: Any, run_dir: Path, *,
               records: bool = True) -> list[Any]:
    callbacks: list[Any] = [
        EarlyStopping(config.monitor, config.monitor_mode, config.patience, config.min_delta),
        Checkpointing(run_dir / "checkpoints", monitor=config.monitor, mode=config.monitor_mode,
                      min_delta=config.min_delta, every_n_epochs=config.checkpoint_every,
                      final_weights=run_dir.resolve() / "final_model.pt", enabled=records),
    ]
    if scheduler is not None:
        callbacks.append(LRScheduling(scheduler))
    if config.on_nan == "rollback":
        callbacks.append(Rollback(config.rollback_lr_factor, config.max_rollbacks,
                                  config.spike_factor))
    return callbacks


def make_loaders(
    data: DataSplits, config: RunConfig, device: torch.device, world: World | None = None
) -> tuple[DataLoader, DataLoader, DataLoader]:
    """Train (seeded shuffle), validation and test loaders; in a job of several processes,
    this rank's part of each split (`batch_size` samples a step on every rank)."""
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
    if world is not None:
        return _rank_loaders(data, config, world, common)
    shuffle_order = torch.Generator().manual_seed(config.seed)
    return (
        DataLoader(data.train, shuffle=True, generator=shuffle_order, **common),
        DataLoader(data.val, shuffle=False, **common),
        DataLoader(data.test, shuffle=False, **common),
    )


def _rank_loaders(data: DataSplits, config: RunConfig, world: World, common: dict[str, Any]
                  ) -> tuple[DataLoader, DataLoader, DataLoader]:
    """Training reshuffled each epoch by seed and epoch number (so a resume sees the same
    order); validation and test cut into unpadded parts, each sample counted once."""
    train: DistributedSampler[Any] = DistributedSampler(
        data.train, num_replicas=world.size, rank=world.rank, shuffle=True, seed=config.seed)

    def part(split: Any) -> ShardSampler:
        return ShardSampler(len(split), world.rank, world.size)

    return (DataLoader(data.train, sampler=train, **common),
            DataLoader(data.val, sampler=part(data.val), **common),
            DataLoader(data.test, sampler=part(data.test), **common))


def _seed_worker(worker_id: int) -> None:
    die_with_parent()
    # Each worker derives its Python/NumPy seeds from torch's per-worker seed.
    seeding.seed_everything(torch.initial_seed() % 2**32)


def _run_started(config: RunConfig, run_dir: Path, parts: _Parts,
                 payload: dict[str, Any] | None) -> RunStarted:
    data = parts.data
    return RunStarted(
        run_name=run_dir.name, run_dir=str(run_dir), config=config.to_dict(),
        device=str(parts.device), model_name=config.model,
        parameter_count=parameter_count(parts.model),
        dataset_name=data.name, train_size=len(data.train), val_size=len(data.val),  # type: ignore[arg-type]
        test_size=len(data.test), class_names=list(data.class_names),  # type: ignore[arg-type]
        epochs=config.epochs, steps_per_epoch=len(parts.loaders[0]),
        start_epoch=epochs_done(payload) if payload else 0,
        elapsed_before=elapsed_of(payload) if payload else 0.0,
        world_size=world.size if (world := current()) is not None else 1,
    )


def _metadata(config: RunConfig, data: DataSplits, started: float) -> dict[str, Any]:
    return {
        "config": config.to_dict(),
        "model_name": config.model,
        "dataset_name": data.name,
        "class_names": list(data.class_names),
        "num_classes": data.num_classes,
        "input_shape": list(data.input_shape),
        "trainui_version": __version__,
        "started_at": started,
    }


def _write_traceback(run_dir: Path | None) -> Path | None:
    if run_dir is None:
        return None
    try:
        return FileWriter(run_dir).write_text("error.log", traceback.format_exc())
    except OSError:
        return None
