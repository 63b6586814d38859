"""One plain-text log line per noteworthy event, with the theme colour it is shown in."""

from __future__ import annotations

import os
from functools import singledispatch

from trainui.core import events as ev

LOG_COLORS: dict[str, str] = {
    "checkpoint_saved": "success",
    "lr_changed": "accent",
    "paused": "warning",
    "resumed": "warning",
    "stop_requested": "warning",
    "early_stopping_updated": "warning",
    "non_finite_loss": "error",
    "failed": "error",
    "training_stopped": "primary",
    "finished": "primary",
}
"""Event kind -> theme colour name; other kinds use the foreground colour."""


def format_metric(name: str | None, value: float | None) -> str:
    """Accuracy-like metrics as percentages, everything else with four decimals."""
    if value is None:
        return "n/a"
    if name and "acc" in name:
        return f"{value:.2%}"
    return f"{value:.4f}"


@singledispatch
def describe(event: ev.Event) -> str | None:
    """The log line for an event, or None when it is not worth a line."""
    return None


@describe.register
def _(event: ev.RunStarted) -> str:
    resumed = f", resuming after epoch {event.start_epoch}" if event.start_epoch else ""
    return (
        f"started {event.run_name}: {event.model_name} on {event.dataset_name}, "
        f"{event.epochs} epochs on {event.device}{resumed}"
    )


@describe.register
def _(event: ev.EpochEnded) -> str:
    return (
        f"epoch {event.epoch}/{event.epochs}: loss {event.train_loss:.4f} "
        f"acc {event.train_accuracy:.1%} | val loss {event.val_loss:.4f} "
        f"acc {event.val_accuracy:.1%} | {event.epoch_time:.1f}s"
    )


@describe.register
def _(event: ev.LRChanged) -> str:
    return f"learning rate {event.old_lr:.3g} -> {event.new_lr:.3g} ({event.scheduler})"


@describe.register
def _(event: ev.EarlyStoppingUpdated) -> str | None:
    if event.improved:
        return None
    return (
        f"{event.monitor} did not improve ({format_metric(event.monitor, event.value)}, best "
        f"{format_metric(event.monitor, event.best)}): wait {event.wait_count}/{event.patience}"
    )


@describe.register
def _(event: ev.CheckpointSaved) -> str:
    metric = ""
    if event.monitor:
        metric = f", {event.monitor} {format_metric(event.monitor, event.value)}"
    return (
        f"saved {event.reason} checkpoint (epoch {event.epoch}{metric}): "
        f"{os.path.basename(event.path)}"
    )


@describe.register
def _(event: ev.Paused) -> str:
    return f"paused in epoch {event.epoch} at step {event.global_step}"


@describe.register
def _(event: ev.Resumed) -> str:
    return f"resumed at step {event.global_step} after {event.paused_seconds:.0f}s paused"


@describe.register
def _(event: ev.StopRequested) -> str:
    when = "after this epoch" if event.mode == "epoch" else "now"
    return f"stop requested ({event.source}): {when}"


@describe.register
def _(event: ev.NonFiniteLoss) -> str:
    return f"loss is {event.value} at step {event.global_step}; stopping"


@describe.register
def _(event: ev.TrainingStopped) -> str:
    return f"training stopped after epoch {event.epoch}: {event.reason}"


@describe.register
def _(event: ev.EvaluationFinished) -> str:
    accuracy = event.metrics.get("accuracy")
    score = f": accuracy {accuracy:.2%}" if isinstance(accuracy, float) else ""
    return f"evaluated the {event.split} split with the {event.weights} weights{score}"


@describe.register
def _(event: ev.Finished) -> str:
    return f"finished: {event.reason}"


@describe.register
def _(event: ev.Failed) -> str:
    return f"failed: {event.message}"
