"""Your own training loop on trainui: `trainui.init` and the `Run` it returns.

A Run writes the same run directory as `trainui train` (marker, config.json, events.jsonl,
summary.json, history.csv, metrics.json), so `trainui watch`, `trainui runs` and control
from another terminal work for it. Under `trainui run` it writes into the directory the
command prepared (TRAINUI_RUN_DIR) and the live view follows it.

Hot-path rules, as in the built-in loop: `run.log` keeps tensor values on their device
and reads them all at once at a throttle point (a few times a second), so logging never
adds a host-device sync per step; control requests are one attribute read per step.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from .control import (
    STOP_AFTER_EPOCH,
    STOP_NOW,
    Control,
    change_learning_rates,
    rescale_schedule,
)
from .control_channel import ControlChannel
from .errors import TrainuiError, one_line
from .events import (
    USER_LR_CHANGE,
    CheckpointSaved,
    EarlyStoppingUpdated,
    EpochEnded,
    EvaluationFinished,
    EventBus,
    Failed,
    Finished,
    LRChanged,
    Paused,
    Progress,
    Resumed,
    RunStarted,
    StopRequested,
    TrainingStopped,
)
from .files import FileWriter
from .outcome import StopCause
from .run_dir import (
    CONFIG,
    SCRIPT_TRAINER,
    TRAINER_KEY,
    RunLock,
    check_run_dir,
    new_named_run_dir,
)
from .run_files import RunFilesSink
from .run_record import RunRecord
from .run_summary import load_summary
from .series import downsample
from .throttle import Throttle

RUN_DIR_ENV = "TRAINUI_RUN_DIR"
"""Set by `trainui run` for the command it starts: the run directory `init` writes into."""
CONSOLE_ENV = "TRAINUI_CONSOLE"
"""Set to 1 (by a headless `trainui run`): `init` prints trainui's log lines on stdout."""
COMMAND_ENV = "TRAINUI_COMMAND"

LOSS_NAMES = ("loss", "train_loss")
ACC_NAMES = ("acc", "accuracy", "train_acc", "train_accuracy")
LR_NAMES = ("lr", "learning_rate")
VAL_LOSS_NAMES = ("val_loss", "eval_loss", "valid_loss", "validation_loss")
VAL_ACC_NAMES = ("val_acc", "val_accuracy", "eval_acc", "eval_accuracy", "valid_acc")
RESERVED = frozenset({"epoch", "epoch_time", "samples_per_second", "global_step", "step"})
"""Epoch columns trainui fills itself (history.csv)."""
MAX_STEP_POINTS_PER_EVENT = 64
MAX_METRICS = 64
"""Distinct metric names a run may log (a typo in a loop would add one per step)."""


def init(
    config: Mapping[str, Any] | None = None,
    *,
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    root: str | os.PathLike[str] = "runs",
    name: str | None = None,
    model: Any = None,
    dataset: str | None = None,
    batch_size: int | None = None,
    class_names: Sequence[str] | None = None,
    save: Callable[[], str | os.PathLike[str] | None] | None = None,
    progress_interval: float = 0.25,
    handle_signals: bool = True,
    console: bool | None = None,
    steerable: bool = True,
    optimizer: Any = None,
    scheduler: Any = None,
) -> Run:
    """Start a run of your own training code and return it (a context manager too).

    The run goes into the directory `trainui run` prepared for this process; else into
    `run_dir` (new or empty), else `ROOT/NAME-YYYYmmdd-HHMMSS` (NAME: the script's name).
    `epochs` and `steps_per_epoch` size the progress bars and the ETA (an unknown epoch
    length is learned from the first epoch). `model` gives the view its name, size and
    device; `batch_size` turns steps per second into samples per second. `save`, if
    given, is called to save a checkpoint when one is requested (from a view, or on
    SIGTERM) and returns its path; without it, check `run.save_requested` and call
    `run.saved(path)`. With `handle_signals`, the first Ctrl+C or SIGTERM asks the run to
    save and stop (`run.stop_requested`); a second Ctrl+C raises KeyboardInterrupt.
    `steerable=False` opens no control channel (views can watch, not pause or stop it).
    Given your `optimizer` (and LR `scheduler`, if any), a learning rate set from outside
    (`trainui control RUN set-lr VALUE`) is applied to it at the next `log`, the schedule
    rescaled to go on from it; without it, such a request is left unanswered.
    """
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int)
                               or epochs < 0):
        raise TrainuiError(f"trainui.init: epochs must be a whole number >= 0, got {epochs!r}")
    if steps_per_epoch is not None and (isinstance(steps_per_epoch, bool)
                                        or not isinstance(steps_per_epoch, int)
                                        or steps_per_epoch < 0):
        raise TrainuiError("trainui.init: steps_per_epoch must be a whole number >= 0, "
                           f"got {steps_per_epoch!r}")
    if not progress_interval > 0:
        raise TrainuiError(f"trainui.init: progress_interval must be > 0, got {progress_interval}")
    if console is None:
        console = os.environ.get(CONSOLE_ENV, "") not in ("", "0")
    prepared = os.environ.get(RUN_DIR_ENV)
    world = _job()
    directory = _shared_directory(world, lambda: _run_directory(prepared, run_dir, root, name))
    run = Run(directory, config=dict(config or {}), epochs=epochs or 0,
              steps_per_epoch=steps_per_epoch or 0, model=model, dataset=dataset,
              batch_size=batch_size, class_names=class_names, save=save,
              progress_interval=progress_interval, console=console and _records(world),
              steerable=steerable, world=world)
    run.optimizer, run.scheduler = optimizer, scheduler
    if prepared is not None:
        os.environ.pop(RUN_DIR_ENV, None)  # one run per prepared directory
    elif not console and _records(world):
        print(f"trainui: run {directory} (watch it: trainui watch {directory})",
              file=sys.stderr)
    if handle_signals and steerable:
        run._install_signal_handlers()
    return run


def _job() -> Any:
    """The torch.distributed job of several processes this script is one of (its process
    group started), or None. Torch is not imported for it."""
    dist = sys.modules.get("torch.distributed")
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return None
    size = dist.get_world_size()
    if size < 2:
        return None
    from .distributed import World, local_rank

    return World(dist.get_rank(), size, local_rank(),
                 int(os.environ.get("LOCAL_WORLD_SIZE", size)), recorder=0)


def _records(world: Any) -> bool:
    """Whether this process records the run (a lone one, or rank 0 of a job)."""
    return world is None or bool(world.records)


def _shared_directory(world: Any, make: Callable[[], Path]) -> Path:
    """The run directory: made here, or in a job by rank 0 alone and told to the others."""
    if world is None:
        return make()
    from .distributed import share

    return Path(share(str(make()) if world.records else None, world))


def _run_directory(prepared: str | None, run_dir: str | os.PathLike[str] | None,
                   root: str | os.PathLike[str], name: str | None) -> Path:
    if prepared is not None:
        path = Path(prepared)
        check_run_dir(path, "train")
        return path
    return new_named_run_dir(run_dir, root, name or _script_name())


def _script_name() -> str:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv else "")
    stem = Path(path).stem if path and path != "-c" else ""
    return stem if stem and stem != "__main__" else "run"


class Run:
    """One run of your own training code: log metrics, end epochs, obey the view.

    Use `trainui.init(...)` to make one. Every method is meant for the thread that trains.
    """

    def __init__(self, run_dir: Path, *, config: dict[str, Any], epochs: int,
                 steps_per_epoch: int, model: Any = None, dataset: str | None = None,
                 batch_size: int | None = None, class_names: Sequence[str] | None = None,
                 save: Callable[[], str | os.PathLike[str] | None] | None = None,
                 progress_interval: float = 0.25, console: bool = False,
                 steerable: bool = True, world: Any = None) -> None:
        self.run_dir = run_dir
        self.steerable = steerable
        """Whether views may steer it (a control channel exists)."""
        self.epochs = epochs
        self.steps_per_epoch = steps_per_epoch
        self.batch_size = batch_size
        self.class_names = [str(name) for name in class_names] if class_names else None
        self.epoch = 0
        """Epochs ended so far (`end_epoch` calls)."""
        self.global_step = 0
        """Steps logged so far."""
        self._save = save
        self._records = _records(world)
        """Whether this process writes the run (in a job of several, rank 0 alone does)."""
        self._requests = Control()
        """What views and signals ask; in a job, rank 0's reach every rank at the steps
        they agree on (`_agreed`), through `_control`."""
        self._control = self._requests
        self._agreed: Any = None
        if world is not None:
            from .synced_control import AgreedThrottle, SyncedControl

            self._control = SyncedControl(world, self._requests)
            self._agreed = AgreedThrottle(progress_interval, self._control)
        self._metrics = _MetricBuffer()
        self._epoch_means = _EpochMeans()
        self._throttle = Throttle(progress_interval)
        self._step_in_epoch = 0
        self._epoch_started = time.perf_counter()
        self._started = time.time()
        self._lr: float | None = None
        self._roles: dict[str, str] = {}
        self._epoch_lr: float | None = None
        """The LR the epoch started with (as the built-in loop reports an epoch's LR)."""
        self._save_pending = False
        self.optimizer: Any = None
        """The optimizer a learning rate set from outside goes to (None: not taken)."""
        self.scheduler: Any = None
        """Its LR scheduler, rescaled to go on from such a change."""
        self.leave_pause_to_save = False
        """While paused, a save request returns from `log` (the pause goes on at the next
        call): for hosts that can save only once their hook has returned, such as the
        Hugging Face Trainer. Without it, a paused run saves after it resumes (or at once,
        given `save=`)."""
        self._paused_since: float | None = None
        self._stop_now = False
        self._stop_after_epoch = False
        self._stopped = False
        """The stop was honoured (the epoch it asked for ended): later steps and epochs are
        not recorded, so the run's record ends where it stopped."""
        self._stop_source = "user"
        self._early_stop: EarlyStoppingUpdated | None = None
        self._early_stopped = False
        self._evaluation: dict[str, Any] | None = None
        self._finished = False
        self._signals: dict[int, Any] = {}
        self._signals_received: list[int] = []
        self._warned: set[str] = set()
        self._previous_excepthook: Any = None
        self._exit_code: Any = None
        self._system_exit: Callable[..., Any] = sys.exit
        self._console_wanted = console
        self._cleanup = contextlib.ExitStack()
        if self._records:
            self._cleanup.callback(RunLock(run_dir).release)
        try:
            self._open(config, model, dataset)
        except BaseException:
            self._cleanup.close()
            raise

    # ---- opening and the first event -------------------------------------------------
    def _open(self, config: dict[str, Any], model: Any, dataset: str | None) -> None:
        if self._records:
            self._open_record(config)
        else:
            self._bus = EventBus([])  # another rank records the run
        self._cleanup.callback(self._restore_handlers)
        self._bus.emit(RunStarted(
            run_name=self.run_dir.name, run_dir=str(self.run_dir), config=_plain(config),
            device=_device_of(model), model_name=_model_name(model),
            parameter_count=_parameter_count(model), dataset_name=dataset or "",
            train_size=0, val_size=0, test_size=0, class_names=list(self.class_names or []),
            epochs=self.epochs, steps_per_epoch=self.steps_per_epoch,
            world_size=self._agreed.control.world.size if self._agreed else 1,
        ))
        self._previous_excepthook = sys.excepthook
        sys.excepthook = self._excepthook
        self._system_exit = sys.exit
        sys.exit = self._exiting  # type: ignore[assignment]  # (SystemExit skips excepthook)
        atexit.register(self._at_exit)

    def _open_record(self, config: dict[str, Any]) -> None:
        """Write config.json; record events; take requests through a control channel."""
        if load_summary(self.run_dir).sessions:
            raise TrainuiError(f"run {self.run_dir} has started already: a run of your own "
                               "code is one session (start a new run instead)")
        writer = FileWriter(self.run_dir)
        stored = _read_json(self.run_dir / CONFIG)
        command = stored.get("command") if isinstance(stored, dict) else None
        writer.write_json(CONFIG, {
            TRAINER_KEY: SCRIPT_TRAINER,
            "command": command or _this_command(),
            "config": _plain(config),
        })
        record = RunRecord(self.run_dir)
        self._cleanup.callback(record.close)
        self._bus = EventBus([record])
        files = RunFilesSink(writer)
        self._cleanup.callback(files.close)
        self._bus.subscribe(files, first=True)
        if self._console_wanted:
            from .console import ConsoleSink

            self._bus.subscribe(ConsoleSink(), optional=True)
        if self.steerable:
            try:
                channel = ControlChannel(self.run_dir, self._requests)
                self._cleanup.callback(channel.close)
            except OSError:
                pass  # a file system without FIFOs: the run works, uncontrollable from outside

    # ---- what the training code asks -------------------------------------------------
    @property
    def stop_requested(self) -> bool:
        """True once the run should stop: now (Ctrl+C, SIGTERM, stop from a view), or after
        an epoch ended during which "stop after this epoch" was asked. Check it in the step
        loop and after `end_epoch`, and break."""
        if self._control.pending:
            self._take_requests()
        return self._stop_now or self._stopped

    @property
    def save_requested(self) -> bool:
        """True while a checkpoint was asked for and not yet reported with `saved`."""
        if self._control.pending:
            self._take_requests()
        return self._save_pending

    @property
    def finished(self) -> bool:
        """Whether the run has ended (finished, failed, or left interrupted)."""
        return self._finished

    def handle_requests(self, *, checkpoint: str | os.PathLike[str] | None = None) -> bool:
        """Honour the view's requests now, as `log` does at each step: save (with `save=`),
        note a stop, wait while paused. Returns `stop_requested`. For loops that do not
        log every step, and for code that must react at once.

        `checkpoint`: a checkpoint of the current state was just written there, so a save
        asked for while this call waits is answered with it instead of a new one."""
        self._check_open("handle_requests")
        if self._control.pending and not self._stopped:
            if checkpoint is None:
                self._handle_requests()
            else:
                save, self._save = self._save, lambda: str(checkpoint)
                try:
                    self._handle_requests()
                finally:
                    self._save = save
        return self.stop_requested

    @property
    def paused(self) -> bool:
        """Whether a view asked the run to pause (`log` then waits until it resumes)."""
        return self._control.paused

    @property
    def control(self) -> Control:
        """The run's requests (pause, save, stop), for code that steers it in-process."""
        return self._control

    def log(self, metrics: Mapping[str, Any], *, step: int | None = None) -> None:
        """Record one training step's metrics: numbers or one-element tensors, any names.

        `loss` and `acc` (or `train_loss`, `accuracy`...) feed the loss and accuracy
        charts, `lr` the learning-rate panel, every other scalar is charted by name.
        Tensors stay on their device until the next throttle point. Each call is one step
        unless `step` says which global step it is. While the run is paused from a view,
        this call waits at the step boundary.
        """
        self._check_open("log")
        values = _check_metrics(metrics, "log")
        if self._stopped:
            self._warn("after-stop", "the run was asked to stop and its last epoch has "
                       "ended: steps logged now are not recorded (break out of the epoch loop "
                       "too when run.stop_requested is true)")
            return
        if step is None:
            self.global_step += 1
            self._step_in_epoch += 1
        else:
            if isinstance(step, bool) or not isinstance(step, int) or step < 0:
                raise TypeError(f"run.log: step must be a whole number >= 0, got {step!r}")
            if step == self.global_step and not self._metrics.steps_logged:
                self._step_in_epoch += 1  # counting from 0: the first step is one
            elif step < self.global_step:
                raise ValueError(f"run.log: step {step} is before step {self.global_step}, "
                                 "already logged")
            elif step > self.global_step:
                self._step_in_epoch += step - self.global_step
                self.global_step = step
        self._metrics.add(self.global_step, values, self._warn)
        if self._agreed is not None:
            self._agreed.ready()  # at the steps the ranks agreed on: rank 0's requests
        if self._control.pending:
            self._handle_requests()
        if self._throttle.ready():
            self._report_progress()

    def end_epoch(self, metrics: Mapping[str, Any] | None = None) -> None:
        """End the epoch: its validation metrics (`val_loss`, `val_acc`, anything else).

        Training loss and accuracy default to the means of what `log` got this epoch.
        """
        self._check_open("end_epoch")
        values = _check_metrics(metrics or {}, "end_epoch")
        self._agree()  # requests of the epoch's last steps, on every rank
        if self._stopped:
            return  # (log said so)
        if self._metrics.pending():
            self._report_progress()
        means = self._epoch_means
        numbers = {name: _to_float(value) for name, value in values.items()}
        for name, value in numbers.items():
            if not math.isfinite(value):
                self._warn(f"epoch-{name}", f"{name} is {value}: left out of the charts")
        train_loss = _pick(numbers, LOSS_NAMES, means.get(_LOSS))
        train_acc = _pick(numbers, ACC_NAMES, means.get(_ACC))
        val_loss = _pick(numbers, VAL_LOSS_NAMES, None)
        val_acc = _pick(numbers, VAL_ACC_NAMES, None)
        lr = _pick(numbers, LR_NAMES, self._epoch_lr if self._epoch_lr is not None else self._lr)
        others = self._epoch_others(numbers)
        steps = self._step_in_epoch
        if self.epoch == 0 and not self.steps_per_epoch and steps:
            self.steps_per_epoch = steps  # learned: later epochs get a bar and an ETA
        self.epoch += 1
        elapsed = time.perf_counter() - self._epoch_started
        if self.epochs and self.epoch > self.epochs:
            self.epochs = self.epoch  # more epochs than announced: the count follows
        self._bus.emit(EpochEnded(
            epoch=self.epoch, epochs=self.epochs,
            train_loss=_finite(train_loss), train_acc=_finite(train_acc),
            val_loss=_finite(val_loss), val_acc=_finite(val_acc), lr=_finite(lr),
            epoch_time=elapsed,
            samples_per_second=self._samples_per_second(steps, elapsed),
            # A run that logs no steps: its epochs are its steps (for the charts' x axis).
            global_step=self.global_step if self._metrics.steps_logged else self.epoch,
            metrics=others,
        ))
        self._epoch_means = _EpochMeans()
        self._epoch_lr = None
        self._step_in_epoch = 0
        self._epoch_started = time.perf_counter()
        if self._control.pending:
            self._handle_requests()  # an epoch's end is a step boundary too (pause waits)
        if self._save_pending and self._save is not None:
            self._save_now()
        if self._stop_now or self._stop_after_epoch:
            self._stopped = True

    def _epoch_others(self, numbers: dict[str, float]) -> dict[str, float]:
        """The epoch's other metrics: the epoch means of step metrics (grad norm...), as
        for loss and accuracy, and what end_epoch got; finite, under free names."""
        known = {*LOSS_NAMES, *ACC_NAMES, *VAL_LOSS_NAMES, *VAL_ACC_NAMES, *LR_NAMES}
        others = {name: value for name, value in {**self._epoch_means.others(), **numbers}.items()
                  if name not in known}
        for name in RESERVED.intersection(others):
            self._warn(f"reserved-{name}", f"{name!r} is a column trainui fills itself: "
                                           "left out (log it under another name)")
            del others[name]
        return {name: value for name, value in others.items() if math.isfinite(value)}

    def saved(self, path: str | os.PathLike[str], *, reason: str | None = None,
              monitor: str | None = None, value: float | None = None) -> None:
        """Say that a checkpoint was written to `path` (answering `save_requested`, or on
        your own schedule: `reason` "best", "last", "periodic"...)."""
        self._check_open("saved")
        if reason is None:
            reason = "requested" if self._save_pending else "periodic"
        if reason == "requested":
            self._save_pending = False
        self._bus.emit(CheckpointSaved(
            path=os.path.abspath(path), reason=reason, epoch=self.epoch,
            global_step=self.global_step, monitor=monitor,
            value=None if value is None else _to_float(value)))

    def early_stopping(self, *, monitor: str, value: float, wait_count: int, patience: int,
                       best: float | None = None, best_epoch: int | None = None,
                       mode: str = "min", improved: bool | None = None,
                       stopping: bool = False) -> None:
        """Report your early-stopping state (the view's early-stopping panel shows it);
        `stopping` says it ends the run, which then ends as stopped early."""
        self._check_open("early_stopping")
        value = _to_float(value)
        if not math.isfinite(value):
            self._warn(f"es-{monitor}", f"early stopping: {monitor} is {value}: not reported")
            return
        if int(wait_count) < 0 or int(patience) < 1:
            raise ValueError(f"run.early_stopping: wait_count must be >= 0 and patience >= 1, "
                             f"got {wait_count} and {patience}")
        improved = (wait_count == 0) if improved is None else bool(improved)
        if best is None:  # the best so far: this value when it improved, else the last best
            previous_best = self._early_stop.best if self._early_stop else None
            best = value if improved or previous_best is None else previous_best
        if best_epoch is None:
            previous = self._early_stop.best_epoch if self._early_stop else None
            best_epoch = self.epoch if improved else previous
        self._early_stop = EarlyStoppingUpdated(
            epoch=self.epoch, monitor=monitor, mode=mode, value=value,
            best=None if best is None else _to_float(best),
            best_epoch=best_epoch, wait_count=int(wait_count), patience=int(patience),
            improved=improved)
        self._bus.emit(self._early_stop)
        self._early_stopped = self._early_stopped or stopping

    def evaluate(self, y_true: Any, y_pred: Any, class_names: Sequence[str] | None = None,
                 *, split: str = "test", weights: str = "last") -> dict[str, Any]:
        """Score predictions (on the test split, or the `split` named; made with the
        `weights` named): accuracy, precision, recall, F1 (weighted and per class) and the
        confusion matrix, shown at the end of the run. `y_pred` may be labels or one row
        of scores per sample. Returns the metrics."""
        self._check_open("evaluate")
        from .evaluation import classification_metrics

        predicted, true = _labels(y_pred, "y_pred"), _labels(y_true, "y_true")
        if len(predicted) != len(true):
            raise ValueError(f"run.evaluate: y_true has {len(true)} labels, y_pred "
                             f"{len(predicted)}")
        if not len(true):
            raise ValueError("run.evaluate: no labels to score")
        names = [str(n) for n in class_names] if class_names else self.class_names
        highest = int(max(predicted.max(), true.max()))
        lowest = int(min(predicted.min(), true.min()))
        if names is None:
            names = [str(i) for i in range(highest + 1)]
        if highest >= len(names) or lowest < 0:
            raise ValueError(f"run.evaluate: labels must lie in 0..{len(names) - 1} "
                             f"(one per class name), got {lowest if lowest < 0 else highest}")
        metrics = {**classification_metrics(predicted, true, names), "split": split}
        self._evaluation = metrics
        self._bus.emit(EvaluationFinished(split=split, weights=weights, metrics=metrics))
        return metrics

    def finish(self) -> None:
        """End the run: it is listed as finished (or stopped, as asked). Called for you at
        the end of a `with` block and when the script exits."""
        if self._finished:
            return
        if self._control.pending:
            self._take_requests()  # a stop asked for at the very end still counts
        if self._metrics.pending():
            self._report_progress()
        try:
            self._emit_ending()
        except Exception as exc:  # a write error (full disk): the run failed after all
            self.fail(exc)
            raise
        self._close()

    def _emit_ending(self) -> None:
        cause, reason = self._ending()
        self._bus.emit(TrainingStopped(epoch=self.epoch, global_step=self.global_step,
                                       cause=cause, reason=reason))
        evaluation = self._evaluation
        best = self._early_stop
        self._bus.emit(Finished(
            cause=cause, reason=reason, epochs_completed=self.epoch,
            global_step=self.global_step, elapsed=time.time() - self._started,
            metrics=evaluation,
            confusion_matrix=evaluation["confusion_matrix"] if evaluation else None,
            class_names=(evaluation["class_names"] if evaluation
                         else list(self.class_names or [])),
            best_monitor=best.monitor if best and best.best is not None else None,
            best_value=best.best if best else None,
            best_epoch=best.best_epoch if best else None,
        ))

    def fail(self, error: BaseException | str) -> None:
        """End the run as failed: the one-line cause in the run's events, the traceback (of
        the exception being handled) in error.log."""
        if self._finished:
            return
        message = one_line(error)
        with contextlib.suppress(OSError):
            trace = traceback.format_exception(error) if isinstance(error, BaseException) \
                else [message + "\n"]
            writer = FileWriter(self.run_dir, enabled=self._records)
            log = writer.write_text("error.log", "".join(trace))
            message += f" (see {log})"
        self._bus.emit_final(Failed(message=message))
        self._close(quiet=True)  # the error that failed the run is the one to see

    def __enter__(self) -> Run:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 _tb: TracebackType | None) -> None:
        if error is None or (isinstance(error, SystemExit) and error.code in (0, None)):
            self.finish()
        elif isinstance(error, KeyboardInterrupt):
            self._close(quiet=True)  # stopped at once, as asked: listed as interrupted
        else:
            self.fail(error)

    # ---- requests from views and signals --------------------------------------------
    def _agree(self) -> None:
        """In a job of several processes: rank 0's requests reach every rank now (each
        rank calls this at the same point)."""
        if self._agreed is not None:
            self._agreed.control.sync()

    def _take_requests(self) -> None:
        control = self._control
        new_stop = control.take_new_stop()
        if new_stop is not None:
            mode, source = new_stop
            self._stop_source = source
            if mode == STOP_NOW:
                self._stop_now = True
            elif mode == STOP_AFTER_EPOCH:
                self._stop_after_epoch = True
            self._bus.emit(StopRequested(mode=mode, epoch=self.epoch + 1,
                                         global_step=self.global_step, source=source))
        if control.take_save_request():
            self._save_pending = True
        request = control.take_lr_request()
        if request is not None and self.optimizer is not None:
            self._change_lr(*request)

    def _change_lr(self, mode: str, value: float) -> None:
        """Apply a learning rate set from outside to the optimizer (and its schedule)."""
        groups = self.optimizer.param_groups
        old = float(groups[0]["lr"])
        ratios = change_learning_rates(groups, mode, value)
        if self.scheduler is not None:
            rescale_schedule(self.scheduler, groups, ratios)
        self._lr = float(groups[0]["lr"])
        self._bus.emit(LRChanged(epoch=self.epoch, global_step=self.global_step, old_lr=old,
                                 new_lr=self._lr, scheduler=USER_LR_CHANGE))

    def _handle_requests(self) -> None:
        """At a step boundary: take requests, save if we can, wait while paused."""
        self._take_requests()
        if self._save_pending and self._save is not None:
            self._save_now()
        control = self._control
        if not control.paused or self._stop_now:
            self._end_pause()  # (resumed while the caller was saving)
            return
        if self._paused_since is None:
            self._report_progress()
            self._paused_since = time.monotonic()
            self._bus.emit(Paused(epoch=self.epoch + 1, global_step=self.global_step,
                                  rank_global_steps=self._rank_steps()))
        while control.paused and control.stop_mode != STOP_NOW:
            if self._save_pending and self._save is not None:
                self._save_now()
            elif self._save_pending and self.leave_pause_to_save:
                # A save taken before this wait (with the pause, or by `save_requested`)
                # wakes nothing: return now, still paused; the caller saves, and its next
                # call waits again.
                return
            control.wait_while_paused()
            self._take_requests()
        self._take_requests()
        self._end_pause()

    def _rank_steps(self) -> list[int]:
        """In a job: every rank's global step, in rank order (each rank calls this)."""
        if self._agreed is None:
            return []
        from .distributed import gather

        return [int(step) for step in gather(self.global_step, self._agreed.control.world)]

    def _end_pause(self) -> None:
        if self._paused_since is not None:
            paused_for = time.monotonic() - self._paused_since
            self._epoch_started += paused_for  # paused time is not the epoch's training time
            if not self._stop_now:
                self._bus.emit(Resumed(epoch=self.epoch + 1, global_step=self.global_step,
                                       paused_seconds=paused_for))
        self._paused_since = None

    def _save_now(self) -> None:
        assert self._save is not None
        path = self._save()
        if path is not None:
            self.saved(path, reason="requested")
        self._save_pending = False

    def _install_signal_handlers(self) -> None:
        """First Ctrl+C/SIGTERM: save and stop at the next step; a second Ctrl+C: stop at
        once. Only from the main thread, and only over Python's default handlers."""
        if threading.current_thread() is not threading.main_thread():
            return
        defaults = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}
        for signum, default in defaults.items():
            if signal.getsignal(signum) is default:
                self._signals[signum] = signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, _frame: object) -> None:
        if self._signals_received and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self._signals_received.append(signum)
        if not self._records:
            return  # rank 0 took it too (torchrun signals every rank): it stops them all
        self._requests.request_save()
        self._requests.request_stop(STOP_NOW, source=signal.Signals(signum).name)
        with contextlib.suppress(OSError):
            os.write(2, f"trainui: {signal.Signals(signum).name}: stopping at the next step "
                        "(Ctrl+C again stops at once)\n".encode())

    def _restore_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, previous in self._signals.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(signum, previous)
        self._signals.clear()

    # ---- progress ---------------------------------------------------------------------
    def _report_progress(self) -> None:
        """Read what `log` kept (one device read per device), emit Progress."""
        steps, columns = self._metrics.read()
        losses: list[list[float]] = []
        others: dict[str, list[float]] = {}
        for name, series in columns.items():
            finite = [(s, v) for s, v in series if math.isfinite(v)]
            if len(finite) < len(series):
                self._warn(name, f"{name} was not finite at step "
                                 f"{next(s for s, v in series if not math.isfinite(v))}: "
                                 "left out of the charts")
            role = self._role_of(name)
            if role == _LR:
                if finite:
                    self._lr = finite[-1][1]
                    if self._epoch_lr is None:
                        self._epoch_lr = finite[0][1]
                continue
            if role in (_LOSS, _ACC):
                self._epoch_means.add(role, [v for _, v in finite])
                if role == _LOSS:
                    losses = [[float(s), v] for s, v in finite]
                elif any(v > 1.0 for _, v in finite):
                    self._warn("acc>1", f"{name} is above 1: accuracies are fractions "
                                        "(0.95, not 95)")
                continue
            others[name] = [v for _, v in finite]
            self._epoch_means.add(name, others[name])
        if not steps and not losses and not others:
            return
        elapsed = time.perf_counter() - self._epoch_started
        means = self._epoch_means
        self._bus.emit(Progress(
            epoch=self.epoch + 1, epochs=self.epochs,
            step=self._step_in_epoch, steps_per_epoch=self.steps_per_epoch,
            global_step=self.global_step, train_loss=means.get(_LOSS),
            train_acc=means.get(_ACC),
            samples_per_second=self._samples_per_second(self._step_in_epoch, elapsed),
            lr=self._lr, step_losses=_step_points(losses),
            metrics={name: sum(v) / len(v) for name, v in others.items() if v},
        ))

    def _role_of(self, name: str) -> str:
        """What a logged name feeds: the first name of a role (loss, accuracy, LR) takes
        it; another name for the same role is charted as a metric of its own."""
        role = self._roles.get(name)
        if role is None:
            role = _role(name)
            owner = next((n for n, r in self._roles.items() if r == role), None)
            if role != _OTHER and owner is not None:
                self._warn(f"role-{name}", f"{name!r} and {owner!r} both name the {role}: "
                                           f"{name!r} is charted as a metric of its own")
                role = _OTHER
            self._roles[name] = role
        return role

    def _samples_per_second(self, steps: int, elapsed: float) -> float:
        if not self.batch_size or elapsed <= 0:
            return 0.0
        return steps * self.batch_size / elapsed

    # ---- ending ---------------------------------------------------------------------
    def _ending(self) -> tuple[str, str]:
        epochs = f"{self.epoch} epoch{'' if self.epoch == 1 else 's'}"
        if self._stop_now or self._stop_after_epoch:
            source = self._stop_source
            by = "by request" if source in ("user", "view") else f"by {source}"
            where = f"at step {self.global_step}" if self._stop_now else f"after epoch {self.epoch}"
            return StopCause.USER, f"stopped {by} {where}"
        if self._early_stopped:
            return StopCause.EARLY_STOPPING, f"early stopping after {epochs}"
        return StopCause.COMPLETED, f"completed {epochs}"

    def _close(self, *, quiet: bool = False) -> None:
        """Stop recording; `quiet`: an error closing (a last write failing) is not raised,
        for a run already ending with an error of its own."""
        if self._finished:
            return
        self._finished = True
        if sys.excepthook == self._excepthook:
            sys.excepthook = self._previous_excepthook
        if sys.exit == self._exiting:
            sys.exit = self._system_exit
        atexit.unregister(self._at_exit)
        if quiet:
            with contextlib.suppress(Exception):
                self._cleanup.close()
        else:
            self._cleanup.close()

    def _excepthook(self, kind: type[BaseException], error: BaseException,
                    tb: TracebackType | None) -> None:
        """An exception ended the script outside a `with` block: the run failed."""
        with contextlib.suppress(Exception):
            if isinstance(error, KeyboardInterrupt):
                self._close()
            else:
                self.fail(error.with_traceback(tb))
        hook = self._previous_excepthook or sys.__excepthook__
        hook(kind, error, tb)

    def _at_exit(self) -> None:
        """The script ended without finishing the run: finished, unless it exited with a
        failure status (sys.exit(3)): then failed."""
        with contextlib.suppress(Exception):
            code = self._exit_code
            if code in (None, 0):
                self.finish()
            else:
                self.fail(f"the script exited with status {code}" if isinstance(code, int)
                          else f"the script exited: {code}")

    def _exiting(self, code: Any = None) -> None:
        """sys.exit while the run is open: remember the status for the exit hook."""
        self._exit_code = code
        self._system_exit(code)

    def _check_open(self, what: str) -> None:
        if self._finished:
            raise RuntimeError(f"run.{what} called after the run ended (run.finish)")

    def _warn(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(f"trainui: {message}", RuntimeWarning, stacklevel=4)


# ---- metric values ------------------------------------------------------------------
_LOSS, _ACC, _LR, _OTHER = "loss", "acc", "lr", "other"


def _role(name: str) -> str:
    if name in LOSS_NAMES:
        return _LOSS
    if name in ACC_NAMES:
        return _ACC
    if name in LR_NAMES:
        return _LR
    return _OTHER


class _MetricBuffer:
    """Values logged since the last throttle point: tensors kept on their device."""

    def __init__(self) -> None:
        self._steps: list[int] = []
        self._columns: dict[str, list[tuple[int, Any]]] = {}
        self._names: set[str] = set()
        """Every name logged in the run (MAX_METRICS of them at most)."""
        self.steps_logged = 0

    def pending(self) -> bool:
        return bool(self._steps)

    def add(self, step: int, values: dict[str, Any], warn: Callable[[str, str], None]) -> None:
        self.steps_logged += 1
        if not self._steps or self._steps[-1] != step:
            self._steps.append(step)
        for name, value in values.items():
            if name not in self._names:
                if len(self._names) >= MAX_METRICS:
                    warn("too-many", f"more than {MAX_METRICS} metric names logged; "
                                     f"{name!r} and later new names are left out")
                    continue
                self._names.add(name)
            self._columns.setdefault(name, []).append((step, value))

    def read(self) -> tuple[list[int], dict[str, list[tuple[int, float]]]]:
        """Every pending value as a float: one device-to-host copy per device."""
        steps, columns = self._steps, self._columns
        tensors: dict[Any, list[Any]] = {}
        for column in columns.values():
            for _, value in column:
                if not isinstance(value, float):
                    tensors.setdefault(value.device, []).append(value)
        floats: dict[int, float] = {}
        if tensors:
            import torch

            for group in tensors.values():
                # float32 on the device (every backend has it), one copy to the host.
                read = torch.stack([t.reshape(()).to(torch.float32) for t in group]).tolist()
                floats.update({id(t): v for t, v in zip(group, read, strict=True)})
        self._steps, self._columns = [], {}  # (kept until read: a failed read loses none)
        out = {name: [(s, v if isinstance(v, float) else floats[id(v)]) for s, v in column]
               for name, column in columns.items() if column}
        return steps, out


class _EpochMeans:
    """Running sums of the epoch's loss and accuracy (as the built-in loop reports them),
    and of every other metric logged with steps."""

    def __init__(self) -> None:
        self._sums: dict[str, tuple[float, int]] = {}

    def add(self, role: str, values: list[float]) -> None:
        total, count = self._sums.get(role, (0.0, 0))
        self._sums[role] = (total + sum(values), count + len(values))

    def get(self, role: str) -> float | None:
        total, count = self._sums.get(role, (0.0, 0))
        return total / count if count else None

    def others(self) -> dict[str, float]:
        """The epoch means of every metric but loss and accuracy."""
        return {name: total / count for name, (total, count) in self._sums.items()
                if name not in (_LOSS, _ACC) and count}


def _check_metrics(metrics: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Names as strings; values as floats or detached one-element tensors (no sync)."""
    if not isinstance(metrics, Mapping):
        raise TypeError(f"run.{where}: metrics must be a dict of name -> number, "
                        f"got {type(metrics).__name__}")
    checked: dict[str, Any] = {}
    for name, value in metrics.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"run.{where}: metric names must be non-empty strings, got {name!r}")
        checked[name] = _scalar(name, value, where)
    return checked


def _scalar(name: str, value: Any, where: str) -> Any:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"run.{where}: metric {name!r} must be one number, got a tensor "
                             f"of shape {tuple(value.shape)}")
        if value.is_complex():
            raise TypeError(f"run.{where}: metric {name!r} is a complex tensor")
        # A copy on the device (no sync): the caller may update its tensor in place.
        return value.detach().clone()
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.generic | numpy.ndarray):
        if numpy.size(value) != 1 or not numpy.issubdtype(numpy.asarray(value).dtype,
                                                           numpy.number):
            raise ValueError(f"run.{where}: metric {name!r} must be one number, got an "
                             f"array of shape {numpy.shape(value)}")
        return float(numpy.asarray(value).reshape(()))
    raise TypeError(f"run.{where}: metric {name!r} must be a number or a one-element "
                    f"tensor, got {type(value).__name__}")


def _to_float(value: Any) -> float:
    if isinstance(value, float):
        return value
    if hasattr(value, "item"):
        return float(value.item())
    return float(value)


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def _pick(values: Mapping[str, float], names: Iterable[str],
          default: float | None) -> float | None:
    for name in names:
        if name in values:
            return values[name]
    return default


def _step_points(points: list[list[float]]) -> list[list[float]]:
    if not points:
        return []
    xs, ys = downsample([p[0] for p in points], [p[1] for p in points],
                        MAX_STEP_POINTS_PER_EVENT)
    return [[x, y] for x, y in zip(xs, ys, strict=True)]


def _labels(values: Any, what: str) -> Any:
    import numpy as np

    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if array.ndim == 2:
        array = array.argmax(axis=1)
    if array.ndim != 1:
        raise ValueError(f"run.evaluate: {what} must be labels (1-D) or scores (2-D), "
                         f"got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.equal(np.mod(array, 1), 0)):
            raise ValueError(f"run.evaluate: {what} must hold whole-number class labels")
        array = array.astype(np.int64)
    return array.astype(np.int64)


def _plain(value: Any, depth: int = 0) -> Any:
    """`value` as JSON can hold it: containers kept, anything else as its text."""
    if depth > 8:
        return str(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _this_command() -> list[str]:
    stored = os.environ.get(COMMAND_ENV)
    if stored:
        with contextlib.suppress(ValueError):
            command = json.loads(stored)
            if isinstance(command, list):
                return [str(part) for part in command]
    return [Path(sys.executable).name, *sys.argv]


def _model_name(model: Any) -> str:
    if model is None:
        return "your model"
    inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None) or model
    return type(inner).__name__


def _parameter_count(model: Any) -> int:
    parameters = getattr(model, "parameters", None)
    if parameters is None:
        return 0
    try:
        return sum(p.numel() for p in parameters())
    except (TypeError, AttributeError):
        return 0


def _device_of(model: Any) -> str:
    parameters = getattr(model, "parameters", None)
    if parameters is not None:
        with contextlib.suppress(StopIteration, TypeError, AttributeError):
            return str(next(iter(parameters())).device)
    return "-"

