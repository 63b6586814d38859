"""A deterministic recorded event stream (digits, MLP) and a fake job that replays it.

Every timestamp is fixed, so snapshots of the app fed with these events, and a clock
pinned just after the last event, look the same on every machine.
"""

from __future__ import annotations

import asyncio
import functools
import math
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from trainui.core import events as ev

START = 1_700_000_000.0
EPOCHS = 10
STEPS = 20
BATCH = 64
EPOCH_SECONDS = 3.0
CLASSES = [str(digit) for digit in range(10)]
TRAIN_ACC = [0.52, 0.83, 0.90, 0.93, 0.95, 0.96, 0.965]
VAL_LOSS = [0.92, 0.41, 0.43, 0.44, 0.45, 0.46, 0.44]
LAST_EPOCH = 7
BEST_EPOCH = 2


def step_loss(step: int) -> float:
    """A falling, wiggly training loss for global step `step` (1-based)."""
    return 2.3 * math.exp(-step / 18) + 0.08 + 0.06 * math.sin(step * 1.7) * math.exp(-step / 60)


def at(epoch: int, step: int) -> float:
    """The recorded time of `step` (0..STEPS) in 1-based `epoch`."""
    return START + 0.5 + (epoch - 1) * EPOCH_SECONDS + step * (EPOCH_SECONDS - 0.4) / STEPS


def run_started() -> ev.RunStarted:
    """The first event of the recorded run."""
    return ev.RunStarted(
        time=START, run_name="digits-mlp-demo", run_dir="runs/digits-mlp-demo",
        config={"epochs": EPOCHS, "batch_size": BATCH, "lr": 1e-3}, device="cpu",
        model_name="mlp", parameter_count=9_610, dataset_name="digits", train_size=1_257,
        val_size=180, test_size=360, class_names=CLASSES, epochs=EPOCHS, steps_per_epoch=STEPS,
    )  # fmt: skip


def progress(epoch: int, step: int, lr: float) -> ev.Progress:
    """Progress after `step` steps of `epoch`, carrying the five step losses since the last."""
    global_step = (epoch - 1) * STEPS + step
    losses = [[float(s), step_loss(s)] for s in range(global_step - 4, global_step + 1)]
    return ev.Progress(
        time=at(epoch, step), epoch=epoch, epochs=EPOCHS, step=step, steps_per_epoch=STEPS,
        global_step=global_step, train_loss=sum(loss for _, loss in losses) / 5,
        train_accuracy=TRAIN_ACC[epoch - 1] - 0.02, samples_per_second=1_812.5, lr=lr,
        step_losses=losses,
    )  # fmt: skip


def epoch_events(epoch: int, lr: float) -> list[ev.Event]:
    """An epoch's progress, its end, early stopping and checkpoint events."""
    out: list[ev.Event] = [progress(epoch, step, lr) for step in (5, 10, 15, 20)]
    end, global_step = at(epoch, STEPS) + 0.4, epoch * STEPS
    best = min(VAL_LOSS[:epoch])
    best_epoch = VAL_LOSS.index(best) + 1
    out.append(ev.EpochEnded(
        time=end, epoch=epoch, epochs=EPOCHS, train_loss=step_loss(global_step) + 0.05,
        train_accuracy=TRAIN_ACC[epoch - 1], val_loss=VAL_LOSS[epoch - 1],
        val_accuracy=TRAIN_ACC[epoch - 1] - 0.03, lr=lr, epoch_time=EPOCH_SECONDS,
        samples_per_second=1_812.5, global_step=global_step,
    ))  # fmt: skip
    out.append(ev.EarlyStoppingUpdated(
        time=end, epoch=epoch, monitor="val_loss", mode="min", value=VAL_LOSS[epoch - 1],
        best=best, best_epoch=best_epoch, wait_count=epoch - best_epoch, patience=5,
        improved=best_epoch == epoch,
    ))  # fmt: skip
    if best_epoch == epoch:
        out.append(ev.CheckpointSaved(
            time=end, path="runs/digits-mlp-demo/checkpoints/best.pt", reason="best",
            epoch=epoch, global_step=global_step, monitor="val_loss", value=best,
        ))  # fmt: skip
    return out


def lr_at(epoch: int) -> float:
    """StepLR halving after epoch 2."""
    return 1e-3 if epoch <= 2 else 5e-4


def running_events() -> list[ev.Event]:
    """Three full epochs, an LR change, a periodic save and part of epoch 4."""
    out: list[ev.Event] = [run_started()]
    for epoch in (1, 2, 3):
        out += epoch_events(epoch, lr_at(epoch))
        if epoch == 2:
            out.append(ev.LRChanged(
                time=at(2, STEPS) + 0.45, epoch=2, global_step=2 * STEPS, old_lr=1e-3,
                new_lr=5e-4, scheduler="StepLR",
            ))  # fmt: skip
    out.append(ev.CheckpointSaved(
        time=at(3, STEPS) + 0.5, path="runs/digits-mlp-demo/checkpoints/last.pt",
        reason="periodic", epoch=3, global_step=3 * STEPS,
    ))  # fmt: skip
    out += [progress(4, step, lr_at(4)) for step in (5, 10)]
    return out


def paused_events() -> list[ev.Event]:
    """The running stream, then a pause at step 10 of epoch 4."""
    return [*running_events(), ev.Paused(time=at(4, 10) + 0.1, epoch=4, global_step=3 * STEPS + 10)]


def finished_tail() -> list[ev.Event]:
    """After the pause: resume, epochs 4-7, early stop, test evaluation, Finished."""
    resume_time = at(4, 10) + 5.1
    resumed = ev.Resumed(time=resume_time, epoch=4, global_step=70, paused_seconds=5.0)
    out: list[ev.Event] = [resumed]
    for epoch in range(4, LAST_EPOCH + 1):
        out += [event for event in epoch_events(epoch, lr_at(epoch)) if event.time > resume_time]
    stop, last = at(LAST_EPOCH, STEPS) + 0.6, LAST_EPOCH * STEPS
    reason = "no improvement in val_loss for 5 epochs (best 0.4100 at epoch 2)"
    metrics = digits_metrics()
    out += [
        ev.TrainingStopped(time=stop, epoch=LAST_EPOCH, global_step=last, cause="early_stopping",
                           reason=reason),
        ev.EvaluationFinished(time=stop + 0.3, split="test", weights="best", metrics=metrics),
        ev.Finished(
            time=stop + 0.4, cause="early_stopping", reason=reason, epochs_completed=LAST_EPOCH,
            global_step=last, elapsed=stop + 0.4 - START, metrics=metrics,
            confusion_matrix=CONFUSION, class_names=CLASSES, best_monitor="val_loss",
            best_value=0.41, best_epoch=BEST_EPOCH,
        ),
    ]  # fmt: skip
    return out


def finished_events() -> list[ev.Event]:
    """The whole recorded run, from RunStarted to Finished."""
    return [*paused_events(), *finished_tail()]


CONFUSION = [
    [35, 0, 0, 0, 1, 0, 0, 0, 0, 0],
    [0, 34, 1, 0, 0, 0, 0, 0, 1, 0],
    [0, 0, 35, 0, 0, 0, 0, 0, 0, 0],
    [0, 0, 0, 34, 0, 1, 0, 1, 1, 0],
    [0, 0, 0, 0, 36, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 35, 1, 0, 0, 1],
    [0, 1, 0, 0, 0, 0, 35, 0, 0, 0],
    [0, 0, 0, 0, 0, 0, 0, 35, 0, 1],
    [0, 3, 0, 1, 0, 1, 0, 0, 30, 0],
    [0, 0, 0, 1, 0, 1, 0, 0, 2, 32],
]


def digits_metrics() -> dict[str, object]:
    """Accuracy and macro precision/recall/F1 of CONFUSION, as the core reports them."""
    per_class: dict[str, dict[str, float]] = {}
    for index, name in enumerate(CLASSES):
        true_positive = CONFUSION[index][index]
        predicted = sum(row[index] for row in CONFUSION)
        support = sum(CONFUSION[index])
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    total = sum(map(sum, CONFUSION))

    def macro(key: str) -> float:
        return sum(scores[key] for scores in per_class.values()) / len(per_class)

    return {
        "accuracy": sum(CONFUSION[i][i] for i in range(10)) / total,
        "precision": macro("precision"), "recall": macro("recall"), "f1": macro("f1"),
        "per_class": per_class,
    }  # fmt: skip


class FakeJob:
    """Replays recorded events into the sink; with hold, waits for `release` before the tail."""

    def __init__(
        self, head: Sequence[ev.Event], tail: Sequence[ev.Event] = (), *, hold: bool = False
    ) -> None:
        self.head, self.tail, self.hold = list(head), list(tail), hold
        self.reached = threading.Event()
        """Set once the head has been emitted."""
        self.release = threading.Event()
        self.done = threading.Event()

    def __call__(self, sink: ev.Sink) -> None:
        for event in self.head:
            sink(event)
        self.reached.set()
        if self.hold:
            self.release.wait(timeout=60)
        for event in self.tail:
            sink(event)
        self.done.set()


def clock_after(events: Sequence[ev.Event], seconds: float = 0.5) -> Callable[[], float]:
    """A frozen clock `seconds` after the last event."""
    now = events[-1].time + seconds
    return lambda: now


async def settle(pilot: object, job: FakeJob, *, done: bool = False) -> None:
    """Wait until the job emitted its head (or everything), the app took it all and redrew."""
    flag = job.done if done else job.reached
    await asyncio.to_thread(flag.wait, 10)
    # Twice: the first redraw can change sizes, and a resized chart redraws to its new width.
    for _ in range(2):
        await pilot.pause()  # type: ignore[attr-defined]
        pilot.app.flush_panels()  # type: ignore[attr-defined]
    await pilot.pause()  # type: ignore[attr-defined]


STAGES: dict[str, Callable[[], list[ev.Event]]] = {
    "running": running_events,
    "paused": paused_events,
    "finished": finished_events,
}


def staged_app(stage: str, theme: str = "dark", **kwargs: object) -> tuple[object, FakeJob]:
    """An app fed with the recorded stream up to `stage`; it holds there until released."""
    from trainui.core.control import Control
    from trainui.tui.app import TrainApp

    events = STAGES[stage]()
    job = FakeJob(events, hold=stage != "finished")
    control = kwargs.pop("control", None) or Control()
    app = TrainApp(job, control, theme=theme, clock=clock_after(events), **kwargs)  # type: ignore[arg-type]
    return app, job


def async_test(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test function in a fresh event loop (no pytest async plugin needed)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))  # type: ignore[arg-type]

    return run
