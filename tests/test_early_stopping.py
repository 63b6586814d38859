"""EarlyStopping driven by made-up metric sequences: no training needed."""

from __future__ import annotations

import math

import pytest

from trainui.core.callbacks import EarlyStopping
from trainui.core.events import EarlyStoppingUpdated


class FakeLoop:
    """Just what EarlyStopping touches: epoch, emit, stop."""

    def __init__(self) -> None:
        self.epoch = 0
        self.events: list[object] = []
        self.stop_cause: str | None = None
        self.stop_reason = ""

    def emit(self, event: object) -> None:
        self.events.append(event)

    def stop(self, cause: str, reason: str) -> None:
        if self.stop_cause is None:
            self.stop_cause, self.stop_reason = cause, reason


def drive(callback: EarlyStopping, values: list[float], key: str = "val_loss") -> FakeLoop:
    """Feed one value per epoch until the callback stops the loop."""
    loop = FakeLoop()
    for value in values:
        loop.epoch += 1
        callback.on_epoch_end(loop, {key: value})  # type: ignore[arg-type]
        if loop.stop_cause:
            break
    return loop


def test_stops_after_patience_epochs_without_improvement() -> None:
    loop = drive(EarlyStopping(patience=3), [1.0, 0.9, 0.95, 0.93, 0.91, 0.5])
    assert loop.epoch == 5
    assert loop.stop_cause == "early_stopping"
    assert "did not improve for 3 epochs" in loop.stop_reason
    assert "best 0.9000 at epoch 2" in loop.stop_reason


def test_improvement_resets_the_counter() -> None:
    callback = EarlyStopping(patience=2)
    loop = drive(callback, [1.0, 1.1, 0.8, 0.9, 0.7, 0.75])
    assert loop.stop_cause is None
    assert callback.wait_count == 1
    assert (callback.best, callback.best_epoch) == (0.7, 5)


def test_min_delta_requires_a_large_enough_improvement() -> None:
    callback = EarlyStopping(patience=2, min_delta=0.1)
    loop = drive(callback, [1.0, 0.95, 0.91])
    assert loop.stop_cause == "early_stopping"
    assert callback.best == 1.0
    assert "by more than 0.1" in loop.stop_reason


def test_exactly_min_delta_is_not_an_improvement() -> None:
    callback = EarlyStopping(patience=5, min_delta=0.5)
    drive(callback, [1.0, 0.5])
    assert callback.wait_count == 1


def test_max_mode_monitors_accuracy() -> None:
    callback = EarlyStopping(monitor="val_acc", mode="max", patience=2)
    loop = drive(callback, [0.5, 0.7, 0.69, 0.7], key="val_acc")
    assert loop.stop_cause == "early_stopping"
    assert callback.best == 0.7 and callback.best_epoch == 2


def test_patience_zero_stops_on_first_non_improvement() -> None:
    loop = drive(EarlyStopping(patience=0), [1.0, 1.0])
    assert loop.epoch == 2 and loop.stop_cause == "early_stopping"


def test_nan_metric_stops_with_reason() -> None:
    loop = drive(EarlyStopping(patience=10), [1.0, math.nan])
    assert loop.stop_cause == "early_stopping"
    assert "nan" in loop.stop_reason


def test_each_epoch_emits_the_counter() -> None:
    loop = drive(EarlyStopping(patience=3), [1.0, 1.2])
    updates = [e for e in loop.events if isinstance(e, EarlyStoppingUpdated)]
    assert [(u.wait_count, u.improved) for u in updates] == [(0, True), (1, False)]
    assert updates[1].best == 1.0 and updates[1].best_epoch == 1 and updates[1].patience == 3


def test_state_round_trip_continues_the_count() -> None:
    first = EarlyStopping(patience=3)
    drive(first, [1.0, 1.1, 1.2])
    second = EarlyStopping(patience=3)
    second.load_state_dict(first.state_dict())
    loop = FakeLoop()
    loop.epoch = 4
    second.on_epoch_end(loop, {"val_loss": 1.3})  # type: ignore[arg-type]
    assert loop.stop_cause == "early_stopping"


def test_missing_metric_names_what_exists() -> None:
    with pytest.raises(KeyError, match="val_acc"):
        drive(EarlyStopping(monitor="nope"), [1.0], key="val_acc")
