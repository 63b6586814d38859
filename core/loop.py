"""The training loop: train one epoch, validate, fit over epochs.

Hot-path rules: no host-device synchronisation per step (losses and correct counts stay on
the device until a throttle point), `zero_grad(set_to_none=True)`, non-blocking copies.
Everything observable leaves as an event through `Loop.emit`.
"""

from __future__ import annotations

import contextlib
import math
import time
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .callbacks.base import Callback
from .callbacks.lr_scheduler import LRScheduling
from .callbacks.rollback import Rollback
from .checkpoint import restore
from .control import STOP_NOW, Control, change_learning_rates
from .distributed import World, current, gather, share_weights, summed, wrap
from .evaluation import evaluate
from .events import (
    USER_LR_CHANGE,
    EpochEnded,
    EvaluationFinished,
    Event,
    EventBus,
    Finished,
    LRChanged,
    NonFiniteLoss,
    Paused,
    Progress,
    Resumed,
    Sink,
    StopRequested,
    TrainingStopped,
)
from .hardware import peak_memory_metrics
from .history import History
from .metrics import RunningMetrics
from .outcome import StopCause
from .precision import Precision
from .series import downsample
from .synced_control import AgreedThrottle, SyncedControl
from .throttle import Throttle

MAX_STEP_POINTS_PER_EVENT = 64


@dataclass(eq=False)
class Loop:
    """The state of one fit: what callbacks read and the few things they may change."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    criterion: nn.Module
    device: torch.device
    epochs: int
    bus: EventBus
    control: Control
    precision: Precision
    scheduler: Any = None
    callbacks: list[Callback] = field(default_factory=list)
    history: History = field(default_factory=History)
    clip_grad: float | None = None
    progress_interval: float = 0.25
    metadata: dict[str, Any] = field(default_factory=dict)
    """Extra plain values stored in checkpoints (config, model name, class names...)."""
    data_generator: torch.Generator | None = None
    """The generator that orders the training data; saved so a resume sees the same order."""
    runner: nn.Module | None = None
    """What runs forward passes: `model` compiled by torch.compile, or `model` itself.
    Checkpoints always hold `model`'s state, which loads without compile."""
    memory_format: torch.memory_format | None = None
    """torch.channels_last: training batches of images are moved to the device in it."""
    epoch: int = 0
    """Epochs completed; during an epoch, `epoch + 1` is the one running."""
    global_step: int = 0
    steps_per_epoch: int = 0
    stop_cause: StopCause | None = None
    stop_reason: str = ""
    weights_corrupt: bool = False
    evaluated_weights: str = "last"
    last_metrics: dict[str, float] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    """Wall-clock start of this session of the run."""
    paused_in_epoch: float = 0.0
    """Seconds the running epoch has spent paused: left out of its time and throughput."""
    rollback: Rollback | None = None
    """With `--on-nan rollback`: what takes the run back to its last good epoch."""
    rewind: str | None = None
    """Why the running epoch ends early to roll back (set at a throttle point)."""
    elapsed_before: float = 0.0
    """Seconds the run trained in earlier sessions (a resumed run)."""
    world: World | None = None
    """The job of several processes this loop is one rank of (None: a lone process)."""
    agreed: AgreedThrottle | None = None
    """In a job: the throttle whose points every rank reaches at the same step."""
    rank_rates: list[float] = field(default_factory=list)
    """In a job: each rank's samples per second in the epoch, as last summed."""

    @property
    def forward_model(self) -> nn.Module:
        """The module forward passes go through (compiled or not)."""
        return self.runner if self.runner is not None else self.model

    @property
    def eval_model(self) -> nn.Module:
        """The module evaluation goes through: in a job, the plain model (each rank
        evaluates its own shard, so no collective may run per batch)."""
        return self.model if self.world is not None else self.forward_model

    @property
    def lr(self) -> float:
        """Learning rate of the first parameter group."""
        return float(self.optimizer.param_groups[0]["lr"])

    def emit(self, event: Event) -> None:
        """Send an event to every sink."""
        self.bus.emit(event)

    def stop(self, cause: StopCause, reason: str) -> None:
        """End the epoch loop after this epoch; the first cause given wins."""
        if self.stop_cause is None:
            self.stop_cause, self.stop_reason = cause, reason

    def elapsed(self) -> float:
        """Seconds the run has taken so far, earlier sessions included."""
        return self.elapsed_before + time.time() - self.started_at

    def call(self, hook: str, *args: Any) -> None:
        """Run one hook on every callback, in order."""
        for callback in self.callbacks:
            getattr(callback, hook)(self, *args)


def fit(
    model: nn.Module,
    train_loader: Iterable[Any],
    val_loader: Iterable[Any],
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    device: str | torch.device | None = None,
    scheduler: Any = None,
    callbacks: Sequence[Callback] = (),
    sinks: Sequence[Sink] = (),
    control: Control | None = None,
    amp: str = "off",
    clip_grad: float | None = None,
    progress_interval: float = 0.25,
    test_loader: Iterable[Any] | None = None,
    class_names: Sequence[str] | None = None,
    metadata: dict[str, Any] | None = None,
    resume_from: dict[str, Any] | None = None,
    compile_model: bool = False,
    channels_last: bool = False,
) -> History:
    """Train `model` for `epochs`, validating after each; return the history.

    A scheduler is stepped at its natural granularity (ReduceLROnPlateau on `val_loss`).
    With `test_loader`, the model (best weights, if a Checkpointing callback restored them)
    is evaluated at the end and the metrics travel in the `Finished` event. `resume_from`
    is a loaded checkpoint: training continues exactly where it was written.
    `compile_model` runs forward passes through `torch.compile(model)` (compiled on first
    use); `channels_last` keeps weights and image batches in the channels-last memory format.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)  # in place: the optimizer's parameters
    all_callbacks = list(callbacks)
    if scheduler is not None and not any(isinstance(c, LRScheduling) for c in all_callbacks):
        all_callbacks.append(LRScheduling(scheduler))
    loop = Loop(
        model=model, optimizer=optimizer, criterion=criterion, device=device, epochs=epochs,
        bus=EventBus(list(sinks)), control=control or Control(),
        precision=Precision(amp, device), scheduler=scheduler,
        callbacks=sorted(all_callbacks, key=lambda c: c.order), clip_grad=clip_grad,
        progress_interval=progress_interval, metadata=dict(metadata or {}),
        data_generator=getattr(train_loader, "generator", None),
        runner=typing.cast(nn.Module, torch.compile(model)) if compile_model else None,
        memory_format=torch.channels_last if channels_last else None, world=current(),
    )
    loop.started_at = float(loop.metadata.setdefault("started_at", loop.started_at))
    loop.rollback = next((c for c in loop.callbacks if isinstance(c, Rollback)), None)
    if resume_from is not None:
        restore(loop, resume_from)
    join_job(loop, compile_model)
    try:
        run_loop(loop, train_loader, val_loader)
        if loop.world is not None:  # the recording rank may have restored the best weights
            share_weights(loop.model, loop.world)
        finish(loop, test_loader, list(class_names) if class_names else None)
    except BaseException:
        with contextlib.suppress(Exception):  # the first error is the one to report
            loop.call("teardown")
        raise
    loop.call("teardown")
    return loop.history


def join_job(loop: Loop, compile_model: bool) -> None:
    """In a job of several processes: train through DistributedDataParallel (compiled
    around it with `compile_model`), and take requests only as every rank shares them."""
    world = loop.world
    if world is None:
        return
    runner = wrap(loop.model, loop.device)
    loop.runner = typing.cast(nn.Module, torch.compile(runner)) if compile_model else runner
    loop.control = control = SyncedControl(world, loop.control)
    loop.agreed = AgreedThrottle(loop.progress_interval, control)


def run_loop(loop: Loop, train_loader: Iterable[Any], val_loader: Iterable[Any]) -> None:
    """Run epochs from `loop.epoch` until done or stopped, then the fit-end hooks."""
    loop.steps_per_epoch = _length(train_loader)
    loop.call("on_fit_start")
    while loop.epoch < loop.epochs and loop.stop_cause is None:
        run_epoch(loop, train_loader, val_loader)
        if isinstance(loop.control, SyncedControl):
            loop.control.sync()  # requests of the epoch's last steps, on every rank
        if loop.stop_cause is None and (loop.control.pending or loop.control.stop_mode):
            handle_epoch_boundary(loop)
    if loop.stop_cause is None:
        loop.stop(StopCause.COMPLETED,
                  f"completed {loop.epoch} epoch{'' if loop.epoch == 1 else 's'}")
    loop.call("on_stopping")
    loop.emit(TrainingStopped(epoch=loop.epoch, global_step=loop.global_step,
                              cause=str(loop.stop_cause), reason=loop.stop_reason))
    loop.call("on_fit_end")


def run_epoch(loop: Loop, train_loader: Iterable[Any], val_loader: Iterable[Any]) -> None:
    """Train one epoch, validate, record history, run the epoch-end hooks."""
    loop.call("on_epoch_start")
    started = time.perf_counter()
    loop.paused_in_epoch = 0.0
    lr = loop.lr
    set_sampler_epoch(train_loader, loop.epoch)
    running = train_one_epoch(loop, train_loader)
    if loop.rewind is not None and loop.rollback is not None:
        reason, loop.rewind = loop.rewind, None
        loop.rollback.roll_back(loop, reason)  # the partial epoch is not recorded
        return
    if loop.stop_cause is not None:
        return  # stopped mid-epoch: the partial epoch is not recorded
    train_time = time.perf_counter() - started - loop.paused_in_epoch
    val_loss, val_acc = validate(loop.eval_model, val_loader, loop.criterion, loop.device,
                                 loop.precision, reduce=summed if loop.world else None)
    peak = peak_memory_metrics(loop.device)  # CUDA: the allocator's peak (host counters)
    loop.epoch += 1
    metrics = {
        "epoch": loop.epoch, "train_loss": running.mean_loss, "train_acc": running.accuracy,
        "val_loss": val_loss, "val_acc": val_acc, "lr": lr,
        "epoch_time": time.perf_counter() - started - loop.paused_in_epoch,
        "samples_per_second": running.count / train_time if train_time > 0 else 0.0,
    }
    loop.last_metrics = metrics
    loop.history.record_epoch(metrics)
    loop.emit(EpochEnded(
        epoch=loop.epoch, epochs=loop.epochs, train_loss=metrics["train_loss"],
        train_acc=metrics["train_acc"], val_loss=val_loss, val_acc=val_acc, lr=lr,
        epoch_time=metrics["epoch_time"], samples_per_second=metrics["samples_per_second"],
        global_step=loop.global_step, metrics=peak, rank_samples_per_second=loop.rank_rates,
    ))
    loop.call("on_epoch_end", metrics)


def train_one_epoch(loop: Loop, loader: Iterable[Any]) -> RunningMetrics:
    """Run the optimizer over one pass of `loader`; return the epoch's running metrics."""
    model, optimizer, precision, device = loop.model, loop.optimizer, loop.precision, loop.device
    forward, memory_format = loop.forward_model, loop.memory_format
    scaler = precision.scaler
    step_hooks = [c for c in loop.callbacks if c.runs_every_step]
    running = RunningMetrics()
    throttle = loop.agreed or Throttle(loop.progress_interval)
    started = time.perf_counter()
    model.train()
    for step, (inputs, targets) in enumerate(loader, start=1):
        if loop.control.pending and handle_requests(loop, running, started):
            break
        if memory_format is not None and inputs.dim() == 4:
            inputs = inputs.to(device, non_blocking=True, memory_format=memory_format)
        else:
            inputs = inputs.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        with precision.autocast():
            outputs = forward(inputs)
            loss = loop.criterion(outputs, targets)
        scaler.scale(loss).backward()
        if loop.clip_grad is not None:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), loop.clip_grad)
        scaler.step(optimizer)
        scaler.update()
        running.add(loss.detach(), (outputs.detach().argmax(1) == targets).sum(), len(targets))
        loop.global_step += 1
        for callback in step_hooks:
            callback.on_train_step_end(loop)
        if throttle.ready() and not report_progress(loop, running, step, started):
            break
    else:
        report_progress(loop, running, loop.steps_per_epoch, started)
    return running


def report_progress(loop: Loop, running: RunningMetrics, step: int, started: float) -> bool:
    """Read running metrics from the device, emit Progress; False if the loss is not finite."""
    first_step = loop.global_step - running.pending_steps + 1
    elapsed = time.perf_counter() - started - loop.paused_in_epoch
    pace = None if loop.world is None else RankPace(
        loop.world, running.own_samples / elapsed if elapsed > 0 else 0.0)
    losses = running.read(pace)
    if _rolls_back(loop, losses):
        return False
    if not all(math.isfinite(v) for v in losses):
        bad = next(v for v in losses if not math.isfinite(v))
        loop.weights_corrupt = True
        loop.emit(NonFiniteLoss(epoch=loop.epoch + 1, global_step=loop.global_step, value=str(bad)))
        loop.stop(StopCause.NON_FINITE_LOSS,
                  f"training loss became {bad} at step {loop.global_step}")
        return False
    for offset, value in enumerate(losses):
        loop.history.step_loss.append(first_step + offset, value)
    if pace is not None and pace.rates:
        loop.rank_rates = pace.rates
    loop.emit(Progress(
        epoch=loop.epoch + 1, epochs=loop.epochs, step=step, steps_per_epoch=loop.steps_per_epoch,
        global_step=loop.global_step, train_loss=running.mean_loss,
        train_acc=running.accuracy,
        samples_per_second=running.count / elapsed if elapsed > 0 else 0.0, lr=loop.lr,
        step_losses=_step_points(first_step, losses), rank_samples_per_second=loop.rank_rates,
    ))
    loop.call("on_progress")
    return True


class RankPace:
    """Sums a tensor over a job's ranks, with each rank's samples per second riding along
    in the same collective; `rates` then holds them, in rank order."""

    def __init__(self, world: World, rate: float) -> None:
        self.world = world
        self.rate = rate
        self.rates: list[float] = []

    def __call__(self, rows: torch.Tensor) -> torch.Tensor:
        pace = torch.zeros(self.world.size, dtype=rows.dtype, device=rows.device)
        pace[self.world.rank] = self.rate
        flat = summed(torch.cat((rows.reshape(-1), pace)))
        self.rates = flat[-self.world.size:].tolist()
        return flat[:-self.world.size].reshape(rows.shape)


def _rank_steps(loop: Loop) -> list[int]:
    """In a job: the global step of every rank, in rank order (a collective)."""
    return [] if loop.world is None else [int(s) for s in gather(loop.global_step, loop.world)]


def set_sampler_epoch(loader: Iterable[Any], epoch: int) -> None:
    """A DistributedSampler orders each epoch's data by its number: tell it which."""
    set_epoch = getattr(getattr(loader, "sampler", None), "set_epoch", None)
    if set_epoch is not None:
        set_epoch(epoch)


def _rolls_back(loop: Loop, losses: list[float]) -> bool:
    """With rollback on and left: whether these step losses (non-finite, or a spike) end
    the epoch to roll back; `loop.rewind` says why."""
    rollback = loop.rollback
    if rollback is None or not rollback.can_roll_back:
        return False
    bad = next((v for v in losses if not math.isfinite(v)), None)
    if bad is not None:
        loop.rewind = f"training loss became {bad} at step {loop.global_step}"
    else:
        loop.rewind = rollback.spike(losses, loop.global_step)
    return loop.rewind is not None


def handle_requests(loop: Loop, running: RunningMetrics, started: float) -> bool:
    """Honour control requests at a step boundary; True means stop now."""
    control = loop.control
    _announce_stop(loop)
    change_lr(loop)
    if control.take_save_request() and report_progress(loop, running, _step(loop), started):
        loop.call("on_save_requested")
    if control.paused and control.stop_mode != STOP_NOW:
        # Progress up to the pause, so a view shows the step it paused at.
        if running.pending_steps and not report_progress(loop, running, _step(loop), started):
            return True  # the loss was not finite: stopping
        paused_at = time.monotonic()
        loop.emit(Paused(epoch=loop.epoch + 1, global_step=loop.global_step,
                         rank_global_steps=_rank_steps(loop)))
        loop.call("on_pause")
        control.wait_while_paused()
        while control.paused and control.stop_mode != STOP_NOW:  # woken for a request
            _announce_stop(loop)  # a stop after the epoch is confirmed while paused
            change_lr(loop)
            if control.take_save_request() and report_progress(loop, running, _step(loop),
                                                               started):
                loop.call("on_save_requested")
            control.wait_while_paused()
        paused_for = time.monotonic() - paused_at
        loop.paused_in_epoch += paused_for
        if control.stop_mode != STOP_NOW:
            loop.emit(Resumed(epoch=loop.epoch + 1, global_step=loop.global_step,
                              paused_seconds=paused_for))
        _announce_stop(loop)
    if control.stop_mode == STOP_NOW and control.take_save_request() and report_progress(
            loop, running, _step(loop), started):
        loop.call("on_save_requested")  # asked with the stop (a stop that ended a pause)
    if control.stop_mode == STOP_NOW and loop.stop_cause is None:
        loop.stop(StopCause.USER, f"stopped by request at step {loop.global_step} "
                          f"(epoch {loop.epoch + 1} not finished)")
    return loop.stop_cause is not None or loop.rewind is not None


def change_lr(loop: Loop) -> None:
    """Apply a requested learning-rate change to every parameter group (a scheduler then
    rescales its schedule), and announce it."""
    request = loop.control.take_lr_request()
    if request is None:
        return
    old = loop.lr
    ratios = change_learning_rates(loop.optimizer.param_groups, *request)
    loop.call("on_lr_changed", ratios)
    loop.emit(LRChanged(epoch=loop.epoch, global_step=loop.global_step, old_lr=old,
                        new_lr=loop.lr, scheduler=USER_LR_CHANGE))


def handle_epoch_boundary(loop: Loop) -> None:
    """Requests that arrived during the epoch's last steps or validation: a new learning
    rate, a save, then a stop."""
    _announce_stop(loop)
    change_lr(loop)
    if loop.control.take_save_request():
        loop.call("on_save_requested")
    if loop.control.stop_mode is not None:
        loop.stop(StopCause.USER, f"stopped by request after epoch {loop.epoch}")


def _announce_stop(loop: Loop) -> None:
    new_stop = loop.control.take_new_stop()
    if new_stop is not None:
        mode, source = new_stop
        loop.emit(StopRequested(mode=mode, epoch=loop.epoch + 1, global_step=loop.global_step,
                                source=source))


def _step(loop: Loop) -> int:
    if not loop.steps_per_epoch:
        return 0
    return loop.global_step - loop.epoch * loop.steps_per_epoch


@torch.no_grad()
def validate(
    model: nn.Module,
    loader: Iterable[Any],
    criterion: nn.Module,
    device: torch.device,
    precision: Precision | None = None,
    *,
    reduce: typing.Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> tuple[float, float]:
    """Return (mean loss per sample, accuracy) of `model` on `loader`, without autograd;
    with `reduce` (a sum over a job's ranks), over every rank's part of the split."""
    model.eval()
    running = RunningMetrics()
    for inputs, targets in loader:
        inputs = inputs.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        with precision.autocast() if precision else torch.autocast(device.type, enabled=False):
            outputs = model(inputs)
            loss = criterion(outputs, targets)
        running.add(loss, (outputs.argmax(1) == targets).sum(), len(targets))
    if reduce is None:
        running.read()
    else:
        running.reduce_sums(reduce)
    return running.mean_loss, running.accuracy


def finish(loop: Loop, test_loader: Iterable[Any] | None, class_names: list[str] | None) -> None:
    """Evaluate on the test split when given, then emit Finished."""
    metrics = None
    if test_loader is not None:
        names = class_names or [str(i) for i in range(_num_outputs(loop.model))]
        metrics = evaluate(loop.eval_model, test_loader, loop.device, names, loop.precision,
                           gather=_gatherer(loop.world))
        loop.emit(EvaluationFinished(split="test", weights=loop.evaluated_weights,
                                     metrics=metrics))
    best = _best_of(loop.callbacks)
    loop.emit(Finished(
        cause=str(loop.stop_cause or StopCause.COMPLETED), reason=loop.stop_reason,
        epochs_completed=loop.epoch, global_step=loop.global_step, elapsed=loop.elapsed(),
        metrics=metrics, confusion_matrix=metrics["confusion_matrix"] if metrics else None,
        class_names=metrics["class_names"] if metrics else list(class_names or []),
        **best,
    ))


def _gatherer(world: World | None) -> typing.Callable[[Any], list[Any]] | None:
    if world is None:
        return None
    return lambda value: gather(value, world)


def _best_of(callbacks: list[Callback]) -> dict[str, Any]:
    for callback in callbacks:
        tracker = getattr(callback, "tracker", None)
        if tracker is not None and tracker.best is not None:
            return {"best_monitor": tracker.monitor, "best_value": tracker.best,
                    "best_epoch": tracker.best_epoch}
    return {}


def _num_outputs(model: nn.Module) -> int:
    last = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return last[-1].out_features if last else 0


def _length(loader: Iterable[Any]) -> int:
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:
        return 0


def _step_points(first_step: int, losses: list[float]) -> list[list[float]]:
    """At most MAX_STEP_POINTS_PER_EVENT [step, loss] pairs: the steps' losses, binned."""
    xs, ys = downsample([float(first_step + i) for i in range(len(losses))], losses,
                        MAX_STEP_POINTS_PER_EVENT)
    return [[x, y] for x, y in zip(xs, ys, strict=True)]
