"""Every event in words: the one wording shared by headless lines and the live view's log."""

from __future__ import annotations

from functools import singledispatch
from pathlib import PurePath

from . import events as ev


def percent(value: float) -> str:
    """An accuracy-like fraction as a percentage, right-aligned to 7 characters."""
    return f"{100 * value:6.2f}%"


def format_metric(name: str | None, value: float | None) -> str:
    """Accuracy-like metrics (`*acc*`) as percentages, everything else with four decimals."""
    if value is None:
        return "n/a"
    if name and "acc" in name:
        return f"{value:.2%}"
    return f"{value:.4f}"


def run_relative(path: str) -> str:
    """A file of the run as the run directory names it: `checkpoints/best.pt`."""
    parts = PurePath(path).parts
    if len(parts) >= 2 and parts[-2] == "checkpoints":
        return "/".join(parts[-2:])
    return parts[-1] if parts else path


def _epoch_of(epoch: int, epochs: int) -> str:
    """`epoch  3/20`: the number padded to the width of the count, so lines align."""
    return f"epoch {epoch:>{len(str(epochs))}}/{epochs}"


def progress_line(event: ev.Progress) -> str:
    """A progress heartbeat: where in the epoch the run is, its running loss and speed."""
    return (
        f"{_epoch_of(event.epoch, event.epochs)} step {event.step}/{event.steps_per_epoch}  "
        f"loss {event.train_loss:.4f} acc {percent(event.train_acc)}  "
        f"{event.samples_per_second:,.0f} samples/s"
    )


_TEMPLATES = {
    "lr_changed": "lr {old_lr:.3g} -> {new_lr:.3g} ({scheduler})",
    "paused": "paused at step {global_step} (epoch {epoch})",
    "resumed": "resumed at step {global_step} after {paused_seconds:.1f}s",
    "non_finite_loss": "non-finite loss ({value}) at step {global_step}: stopping",
    "training_stopped": "training stopped: {reason}",
    "finished": "finished in {elapsed:.1f}s ({epochs_completed} epochs)",
    "failed": "failed: {message}",
}
"""Events whose line is their fields in a fixed sentence."""


def describe(event: ev.Event) -> str | None:
    """The line for an event, or None when it is not worth a line of its own."""
    template = _TEMPLATES.get(event.kind)
    if template is not None:
        return template.format(**vars(event))
    return _describe(event)


@singledispatch
def _describe(event: ev.Event) -> str | None:
    return None


@_describe.register
def _(event: ev.RunStarted) -> str:
    resumed = f", resuming after epoch {event.start_epoch}" if event.start_epoch else ""
    where = f", dir {event.run_dir}" if event.run_dir else ""
    return (
        f"run {event.run_name}: {event.model_name} ({event.parameter_count:,} params) on "
        f"{event.dataset_name} (train {event.train_size}, val {event.val_size}, test "
        f"{event.test_size}), device {event.device}{where}{resumed}"
    )


@_describe.register
def _(event: ev.EpochEnded) -> str:
    return (
        f"{_epoch_of(event.epoch, event.epochs)}  train loss {event.train_loss:.4f} acc "
        f"{percent(event.train_acc)}  val loss {event.val_loss:.4f} acc {percent(event.val_acc)}"
        f"  lr {event.lr:.3g}  {event.epoch_time:.1f}s  {event.samples_per_second:,.0f} samples/s"
    )


@_describe.register
def _(event: ev.EarlyStoppingUpdated) -> str | None:
    if event.improved:
        return None
    best = ""
    if event.best is not None:
        best = (f" (best {event.monitor} {format_metric(event.monitor, event.best)} "
                f"at epoch {event.best_epoch})")
    return f"early stopping: {event.wait_count}/{event.patience} epochs without improvement{best}"


@_describe.register
def _(event: ev.CheckpointSaved) -> str | None:
    if event.reason == "last":
        return None  # written every epoch: not notable
    metric = ""
    if event.monitor and event.value is not None:
        metric = f" ({event.monitor} {format_metric(event.monitor, event.value)})"
    return f"checkpoint {event.reason}{metric}: {run_relative(event.path)}"


@_describe.register
def _(event: ev.StopRequested) -> str:
    when = "after this epoch" if event.mode == "epoch" else "now"
    return f"stop requested ({event.source}): stopping {when}"


@_describe.register
def _(event: ev.EvaluationFinished) -> str:
    m = event.metrics
    return (
        f"{event.split} ({event.weights} weights, {m.get('samples', 0)} samples): accuracy "
        f"{percent(m.get('accuracy', 0.0))}  precision {m.get('precision', 0.0):.4f}  "
        f"recall {m.get('recall', 0.0):.4f}  f1 {m.get('f1', 0.0):.4f}"
    )
