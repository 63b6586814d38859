"""The recorded event stream of a real run (digits, MLP) and a fake job that replays it.

The recording (tests/data/recorded_run.jsonl, made by tests/record_run.py) has fixed
timestamps, so snapshots of the app fed with it, and a clock pinned just after the last
event, look the same on every machine. A few synthetic helpers serve unit tests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import math
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from trainui.core import events as ev

START = 1_700_000_000.0
EPOCHS = 10
STEPS = 20
BATCH = 64
EPOCH_SECONDS = 3.0
CLASSES = [str(digit) for digit in range(10)]
TRAIN_ACC = [0.52, 0.83, 0.90, 0.93, 0.95, 0.96, 0.965]


def step_loss(step: int) -> float:
    """A falling, wiggly training loss for global step `step` (1-based)."""
    return 2.3 * math.exp(-step / 18) + 0.08 + 0.06 * math.sin(step * 1.7) * math.exp(-step / 60)


def at(epoch: int, step: int) -> float:
    """The recorded time of `step` (0..STEPS) in 1-based `epoch`."""
    return START + 0.5 + (epoch - 1) * EPOCH_SECONDS + step * (EPOCH_SECONDS - 0.4) / STEPS


def progress(epoch: int, step: int, lr: float) -> ev.Progress:
    """Progress after `step` steps of `epoch`, carrying the five step losses since the last."""
    global_step = (epoch - 1) * STEPS + step
    losses = [[float(s), step_loss(s)] for s in range(global_step - 4, global_step + 1)]
    return ev.Progress(
        time=at(epoch, step), epoch=epoch, epochs=EPOCHS, step=step, steps_per_epoch=STEPS,
        global_step=global_step, train_loss=sum(loss for _, loss in losses) / 5,
        train_acc=TRAIN_ACC[epoch - 1] - 0.02, samples_per_second=1_812.5, lr=lr,
        step_losses=losses,
    )  # fmt: skip


RECORDING = Path(__file__).resolve().parent / "data" / "recorded_run.jsonl"


@functools.cache
def recorded_events() -> tuple[ev.Event, ...]:
    """The real run recorded by tests/record_run.py (times rebased to START)."""
    lines = RECORDING.read_text().splitlines()
    events = [ev.event_from_dict(json.loads(line)) for line in lines]
    assert all(event is not None for event in events), "the recording no longer parses"
    return tuple(event for event in events if event is not None)


def _pause_index() -> int:
    return next(i for i, e in enumerate(recorded_events()) if isinstance(e, ev.Paused))


def _save_index() -> int:
    return next(i for i, e in enumerate(recorded_events())
                if isinstance(e, ev.CheckpointSaved) and e.reason == "requested")


def running_events() -> list[ev.Event]:
    """Three epochs with LR changes and checkpoints, and part of epoch 4."""
    return list(recorded_events()[:_save_index() - 1])


def paused_events() -> list[ev.Event]:
    """The running stream, then a save on request and a pause in epoch 4."""
    return list(recorded_events()[:_pause_index() + 1])


def finished_tail() -> list[ev.Event]:
    """After the pause: resume, the remaining epochs, test evaluation, Finished."""
    return list(recorded_events()[_pause_index() + 1:])


def finished_events() -> list[ev.Event]:
    """The whole recorded run, from RunStarted to Finished."""
    return list(recorded_events())


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


def digits_metrics(
    matrix: list[list[int]] = CONFUSION, names: list[str] = CLASSES
) -> dict[str, object]:
    """Accuracy and macro precision/recall/F1 of `matrix` (CONFUSION), as the core reports
    them."""
    per_class: dict[str, dict[str, float]] = {}
    for index, name in enumerate(names):
        true_positive = matrix[index][index]
        predicted = sum(row[index] for row in matrix)
        support = sum(matrix[index])
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    total = sum(map(sum, matrix))

    def macro(key: str) -> float:
        return sum(scores[key] for scores in per_class.values()) / len(per_class)

    return {
        "accuracy": sum(matrix[i][i] for i in range(len(matrix))) / total,
        "precision": macro("precision"), "recall": macro("recall"), "f1": macro("f1"),
        "per_class": per_class,
    }  # fmt: skip


CIFAR = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
         "truck"]
"""CIFAR-10's class names: longer than a confusion matrix cell."""


def cifar_confusion() -> list[list[int]]:
    """CONFUSION with mix-ups worth listing: cat and dog, truck taken for automobile."""
    matrix = [row[:] for row in CONFUSION]
    matrix[3][5], matrix[3][3] = 9, 26
    matrix[5][3], matrix[5][5] = 6, 29
    matrix[9][1], matrix[9][9] = 4, 28
    return matrix


def cifar_events() -> list[ev.Event]:
    """The recorded run, ending with CIFAR-10's class names and cifar_confusion()."""
    events = finished_events()
    finished = events[-1]
    assert isinstance(finished, ev.Finished)
    matrix = cifar_confusion()
    events[-1] = dataclasses.replace(finished, class_names=CIFAR, confusion_matrix=matrix,
                                     metrics=digits_metrics(matrix, CIFAR))
    return events


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
