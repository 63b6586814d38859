"""Every event in words: the one wording shared by headless lines and the live view's log."""

from __future__ import annotations

from functools import singledispatch
from pathlib import PurePath

from . import events as ev
from . import formats

format_metric = formats.metric
"""A named metric in its quantity's format (see core.formats)."""


def percent(value: float) -> str:
    """An accuracy as a percentage, right-aligned to 7 characters so epoch lines align."""
    return f"{formats.percent(value):>7}"


def run_relative(path: str) -> str:
    """A file of the run as the run directory names it: `checkpoints/best.pt`."""
    parts = PurePath(path).parts
    if len(parts) >= 2 and parts[-2] == "checkpoints":
        return "/".join(parts[-2:])
    return parts[-1] if parts else path


def _epoch_of(epoch: int, epochs: int) -> str:
    """`epoch  3/20`: the number padded to the width of the count, so lines align (`epoch 3`
    when a run of your own code does not say how many epochs it has)."""
    if not epochs:
        return f"epoch {epoch}"
    return f"epoch {epoch:>{len(str(epochs))}}/{epochs}"


def progress_line(event: ev.Progress) -> str:
    """A progress heartbeat: where in the epoch the run is, its running loss and speed."""
    of = f"/{event.steps_per_epoch}" if event.steps_per_epoch else ""
    parts = [f"{_epoch_of(event.epoch, event.epochs)} step {event.step}{of}"]
    if event.train_loss is not None:
        parts.append(f"loss {formats.loss(event.train_loss)}")
    if event.train_acc is not None:
        parts.append(f"acc {percent(event.train_acc)}")
    parts += [f"{name} {format_metric(name, value)}" for name, value in event.metrics.items()]
    if event.samples_per_second:
        parts.append(formats.rate(event.samples_per_second))
    return "  ".join(parts)


_TEMPLATES = {
    "lr_changed": "lr {old_lr:.3g} -> {new_lr:.3g} ({scheduler})",
    "paused": "paused at step {global_step} (epoch {epoch})",
    "resumed": "resumed at step {global_step} after {paused_seconds:.1f}s",
    "non_finite_loss": "non-finite loss ({value}) at step {global_step}: stopping",
    "rolled_back": "rolled back to the end of epoch {to_epoch} ({reason}); lr {old_lr:.3g} -> "
                   "{new_lr:.3g} (rollback {count} of {max_count})",
    "training_stopped": "training stopped: {reason}",
    "failed": "failed: {message}",
}
"""Events whose line is their fields in a fixed sentence."""


def describe(event: ev.Event) -> str | None:
    """The line for an event, or None when it is not worth a line of its own."""
    if isinstance(event, ev.LRChanged) and event.scheduler == ev.ROLLBACK_LR_CHANGE:
        return None  # the rollback's own line says it
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
    return f"run {event.run_name}: {run_description(event)}{where}{resumed}"


def run_description(event: ev.RunStarted) -> str:
    """`model (N params) on data (train a, val b, test c), device d`, leaving out what a
    run of your own code did not say."""
    text = event.model_name
    if event.parameter_count:
        text += f" ({event.parameter_count:,} params)"
    if event.dataset_name:
        text += f" on {event.dataset_name}"
    sizes = [f"{split} {size}" for split, size in (("train", event.train_size),
             ("val", event.val_size), ("test", event.test_size)) if size]
    if sizes:
        text += f" ({', '.join(sizes)})"
    return text + (f", device {event.device}" if event.device not in ("", "-") else "")


@_describe.register
def _(event: ev.Finished) -> str:
    epochs = event.epochs_completed
    took = formats.duration(event.elapsed)
    return f"finished in {took} ({epochs} epoch{'' if epochs == 1 else 's'})"


@_describe.register
def _(event: ev.EpochEnded) -> str:
    parts = [_epoch_of(event.epoch, event.epochs)]
    for split, loss, acc in (("train", event.train_loss, event.train_acc),
                             ("val", event.val_loss, event.val_acc)):
        values = [f"loss {formats.loss(loss)}"] if loss is not None else []
        values += [f"acc {percent(acc)}"] if acc is not None else []
        if values:
            parts.append(f"{split} {' '.join(values)}")
    parts += [f"{name} {format_metric(name, value)}" for name, value in event.metrics.items()]
    if event.lr is not None:
        parts.append(f"lr {formats.learning_rate(event.lr)}")
    parts.append(formats.seconds(event.epoch_time))
    if event.samples_per_second:
        parts.append(formats.rate(event.samples_per_second))
    return "  ".join(parts)


@_describe.register
def _(event: ev.EarlyStoppingUpdated) -> str | None:
    if event.improved:
        return None
    best = ""
    if event.best is not None:
        at = f" at epoch {event.best_epoch}" if event.best_epoch is not None else ""
        best = f" (best {event.monitor} {format_metric(event.monitor, event.best)}{at})"
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
        f"{event.split} ({event.weights} weights, {m.get('samples', 0)} samples): "
        + scores_line(m)
    )


TEST_KEYS = ("accuracy", "precision", "recall", "f1")
"""The overall test figures, in the order they are written."""


def scores_line(metrics: dict[str, object]) -> str:
    """`accuracy 97.78%  precision 0.9793  recall 0.9778  f1 0.9779`."""
    parts = []
    for key in TEST_KEYS:
        value = metrics.get(key)
        number = float(value) if isinstance(value, int | float) else None
        parts.append(f"{key} {formats.metric(key, number)}")
    return "  ".join(parts)


def epoch_note(event: ev.Event) -> str | None:
    """The few words a routine end-of-epoch event adds to its epoch's line in the live log
    (`best saved`), instead of a line of its own; None for any other event."""
    if isinstance(event, ev.CheckpointSaved) and event.reason == "best":
        return "best saved"
    return None
