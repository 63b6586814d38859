"""Typed events: every observable fact of a run, as a dataclass of plain Python values.

Events flow one way, from the core to sinks (console lines, the Textual app, files).
Each event is frozen, holds only str/int/float/bool/None/list/dict values, and converts to
and from a JSON-ready dict, so any sink can log it or send it elsewhere.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

SCHEMA_VERSION = 2
"""2: accuracies are `train_acc`/`val_acc`, as in history.csv (1 said `*_accuracy`).
Fields added since are optional, with defaults (a reader ignores fields it does not know):
the `metrics` of Progress and EpochEnded, and None for a loss, accuracy or LR a run of
your own code does not log."""


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base class: a fact of the run, stamped with the wall-clock time it happened."""

    kind: ClassVar[str] = "event"
    time: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict with the event's kind and schema version."""
        return {"v": SCHEMA_VERSION, "kind": self.kind, **dataclasses.asdict(self)}


@dataclass(frozen=True, kw_only=True)
class StageStarted(Event):
    """The trainer began a step of setting up a session, before RunStarted (importing
    torch, loading the data set, building the model), so a view can say what it waits for."""

    kind: ClassVar[str] = "stage_started"
    stage: str


@dataclass(frozen=True, kw_only=True)
class RunStarted(Event):
    """A run began: what is trained, on what, where."""

    kind: ClassVar[str] = "run_started"
    run_name: str
    run_dir: str | None
    config: dict[str, Any]
    device: str
    model_name: str
    parameter_count: int
    dataset_name: str
    train_size: int
    val_size: int
    test_size: int
    class_names: list[str]
    epochs: int
    steps_per_epoch: int
    start_epoch: int = 0
    """Epochs done before this session: a resumed run starts after them."""
    elapsed_before: float = 0.0
    """Seconds the run trained in earlier sessions."""
    world_size: int = 1
    """Processes training the run together (torchrun ranks); 1 for a lone process."""


@dataclass(frozen=True, kw_only=True)
class Progress(Event):
    """Throttled training progress inside an epoch (a few per second at most)."""

    kind: ClassVar[str] = "progress"
    epoch: int
    epochs: int
    step: int
    steps_per_epoch: int
    global_step: int
    train_loss: float | None
    """The epoch's running training loss; None when the run logs no loss."""
    train_acc: float | None
    """The epoch's running training accuracy; None when the run logs no accuracy."""
    samples_per_second: float
    """0 when the run does not say how many samples a step takes."""
    lr: float | None
    step_losses: list[list[float]] = field(default_factory=list)
    """New per-step losses since the previous Progress, as [global_step, loss] pairs."""
    metrics: dict[str, float] = field(default_factory=dict)
    """Every other scalar a run logs (perplexity, grad norm...): its mean over the steps
    since the previous Progress."""
    rank_samples_per_second: list[float] = field(default_factory=list)
    """In a job of several processes: each rank's own samples per second so far in the
    epoch, in rank order (`samples_per_second` is the whole job's); empty otherwise."""


@dataclass(frozen=True, kw_only=True)
class EpochEnded(Event):
    """An epoch finished training and validation."""

    kind: ClassVar[str] = "epoch_ended"
    epoch: int
    epochs: int
    train_loss: float | None
    train_acc: float | None
    val_loss: float | None
    val_acc: float | None
    """Each None when the run does not log it (a run of your own code)."""
    lr: float | None
    epoch_time: float
    samples_per_second: float
    global_step: int
    metrics: dict[str, float] = field(default_factory=dict)
    """Every other scalar of the epoch (val_perplexity, bleu...), by name."""
    rank_samples_per_second: list[float] = field(default_factory=list)
    """As Progress's, over the epoch."""


USER_LR_CHANGE = "user"
"""LRChanged.scheduler of a change someone asked for (`trainui control RUN set-lr`, a view)."""
ROLLBACK_LR_CHANGE = "rollback"
"""LRChanged.scheduler of the lower LR a rollback sets (`--on-nan rollback`)."""


@dataclass(frozen=True, kw_only=True)
class LRChanged(Event):
    """The learning rate of the first parameter group changed."""

    kind: ClassVar[str] = "lr_changed"
    epoch: int
    global_step: int
    old_lr: float
    new_lr: float
    scheduler: str
    """The scheduler's class name, or USER_LR_CHANGE for a change asked for."""


@dataclass(frozen=True, kw_only=True)
class EarlyStoppingUpdated(Event):
    """The early-stopping counter moved (or reset on an improvement)."""

    kind: ClassVar[str] = "early_stopping_updated"
    epoch: int
    monitor: str
    mode: str
    value: float
    best: float | None
    best_epoch: int | None
    wait_count: int
    patience: int
    improved: bool


@dataclass(frozen=True, kw_only=True)
class CheckpointSaved(Event):
    """A checkpoint file was written atomically."""

    kind: ClassVar[str] = "checkpoint_saved"
    path: str
    reason: str
    """One of "best", "last", "periodic", "requested", "final_weights"."""
    epoch: int
    global_step: int
    monitor: str | None = None
    value: float | None = None


@dataclass(frozen=True, kw_only=True)
class Paused(Event):
    """Training is paused at a step boundary; no steps run until it resumes."""

    kind: ClassVar[str] = "paused"
    epoch: int
    global_step: int
    rank_global_steps: list[int] = field(default_factory=list)
    """In a job of several processes: the step each rank paused at, in rank order."""


@dataclass(frozen=True, kw_only=True)
class Resumed(Event):
    """Training resumed after a pause."""

    kind: ClassVar[str] = "resumed"
    epoch: int
    global_step: int
    paused_seconds: float


@dataclass(frozen=True, kw_only=True)
class StopRequested(Event):
    """Someone asked training to stop: after the current epoch, or now."""

    kind: ClassVar[str] = "stop_requested"
    mode: str
    """"epoch" (finish the current epoch, then evaluate) or "now" (next step boundary)."""
    epoch: int
    global_step: int
    source: str = "user"


@dataclass(frozen=True, kw_only=True)
class NonFiniteLoss(Event):
    """The training loss became NaN or infinite; training stops."""

    kind: ClassVar[str] = "non_finite_loss"
    epoch: int
    global_step: int
    value: str


@dataclass(frozen=True, kw_only=True)
class RolledBack(Event):
    """`--on-nan rollback`: the loss went bad, so training went back to the last good
    epoch's end with a lower learning rate, and goes on from there."""

    kind: ClassVar[str] = "rolled_back"
    epoch: int
    """The epoch that went bad."""
    global_step: int
    """Where it went bad."""
    to_epoch: int
    to_step: int
    """Where training goes on from: the end of epoch `to_epoch` (0: the start)."""
    reason: str
    old_lr: float
    new_lr: float
    count: int
    """Rollbacks so far, this one included."""
    max_count: int


@dataclass(frozen=True, kw_only=True)
class TrainingStopped(Event):
    """The epoch loop ended; reason says why in plain words."""

    kind: ClassVar[str] = "training_stopped"
    epoch: int
    global_step: int
    cause: str
    """A `StopCause` value: completed, early_stopping, user, non_finite_loss."""
    reason: str


@dataclass(frozen=True, kw_only=True)
class EvaluationFinished(Event):
    """The test split was evaluated."""

    kind: ClassVar[str] = "evaluation_finished"
    split: str
    weights: str
    metrics: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class Finished(Event):
    """The run is over: final metrics, confusion matrix and class names."""

    kind: ClassVar[str] = "finished"
    cause: str
    reason: str
    epochs_completed: int
    global_step: int
    elapsed: float
    metrics: dict[str, Any] | None
    confusion_matrix: list[list[int]] | None
    class_names: list[str]
    best_monitor: str | None = None
    best_value: float | None = None
    best_epoch: int | None = None


@dataclass(frozen=True, kw_only=True)
class Failed(Event):
    """The run failed; message is one human-readable line."""

    kind: ClassVar[str] = "failed"
    message: str
    exit_code: int = 1
    """The trainer's exit status: 2 for bad input, 1 for anything else."""


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        StageStarted,
        RunStarted,
        Progress,
        EpochEnded,
        LRChanged,
        EarlyStoppingUpdated,
        CheckpointSaved,
        Paused,
        Resumed,
        StopRequested,
        NonFiniteLoss,
        RolledBack,
        TrainingStopped,
        EvaluationFinished,
        Finished,
        Failed,
    )
}


_RENAMED = {"train_accuracy": "train_acc", "val_accuracy": "val_acc"}
"""Schema 1 field names and what schema 2 calls them."""

_FIELD_NAMES = {kind: {f.name for f in dataclasses.fields(cls)}
                for kind, cls in EVENT_TYPES.items()}


def event_from_dict(data: dict[str, Any]) -> Event | None:
    """Rebuild an event from `Event.to_dict` output (any schema version so far).

    Unknown kinds give None; unknown fields are ignored; missing required fields give None.
    """
    kind = str(data.get("kind"))
    cls = EVENT_TYPES.get(kind)
    if cls is None:
        return None
    names = _FIELD_NAMES[kind]
    values = {_RENAMED.get(k, k): v for k, v in data.items()}
    try:
        return cls(**{k: v for k, v in values.items() if k in names})
    except TypeError:
        return None


Sink = Callable[[Event], None]


class EventBus:
    """Delivers events to subscribed sinks, in order, on the emitting thread.

    Failure policy, the same for every sink:
    - A sink that records the run (run files, events.jsonl, a sink passed to `fit`) is
      essential: its exception propagates, so the run fails with that error; a full disk
      ends training rather than letting it go on without a record.
    - A sink that only shows the run (console lines, a live view) is subscribed with
      `optional=True`: its first exception detaches it, `on_sink_error` reports it once,
      and training goes on.
    - `emit_final` delivers a run's last event (Failed) to every sink it can, ignoring
      errors: the run is already failing and the first error is the one to report.

    `enabled=False` silences every sink: the one switch that limits output to one process
    in multi-process training.
    """

    def __init__(self, sinks: list[Sink] | None = None, *, enabled: bool = True,
                 on_sink_error: Callable[[Sink, Exception], None] | None = None) -> None:
        self._sinks: list[tuple[Sink, bool]] = [(sink, False) for sink in sinks or []]
        self.enabled = enabled
        self._on_sink_error = on_sink_error or _warn

    def subscribe(self, sink: Sink, *, optional: bool = False, first: bool = False) -> None:
        """Add a sink; it receives every later event (before the others, with `first`)."""
        if first:
            self._sinks.insert(0, (sink, optional))
        else:
            self._sinks.append((sink, optional))

    def emit(self, event: Event) -> None:
        """Hand the event to every sink."""
        if not self.enabled:
            return
        for entry in list(self._sinks):
            sink, optional = entry
            if not optional:
                sink(event)
                continue
            try:
                sink(event)
            except Exception as exc:
                self._sinks.remove(entry)
                self._on_sink_error(sink, exc)

    def emit_final(self, event: Event) -> None:
        """Hand the event to every sink that takes it; errors are ignored."""
        if not self.enabled:
            return
        for sink, _ in list(self._sinks):
            try:
                sink(event)
            except Exception:  # the run is failing already; see the policy above
                continue


def _warn(sink: Sink, exc: Exception) -> None:
    import sys

    from .errors import one_line

    name = getattr(sink, "__qualname__", type(sink).__name__)
    print(f"trainui: warning: {name} stopped showing events: {one_line(exc)}", file=sys.stderr)
