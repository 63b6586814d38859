"""Events are plain data that round-trip through dicts."""

from __future__ import annotations

import json

import pytest

from trainui.core.events import (
    EVENT_TYPES,
    SCHEMA_VERSION,
    CheckpointSaved,
    EpochEnded,
    EventBus,
    Progress,
    event_from_dict,
)


def test_round_trip_through_json() -> None:
    event = Progress(epoch=1, epochs=2, step=3, steps_per_epoch=4, global_step=3,
                     train_loss=0.5, train_acc=0.75, samples_per_second=100.0, lr=0.1,
                     step_losses=[[1.0, 0.7], [2.0, 0.6]])
    data = json.loads(json.dumps(event.to_dict()))
    assert data["kind"] == "progress" and data["v"] == SCHEMA_VERSION == 2
    assert event_from_dict(data) == event


def test_unknown_kind_and_fields_are_tolerated() -> None:
    assert event_from_dict({"kind": "from_the_future", "x": 1}) is None
    saved = CheckpointSaved(path="p", reason="best", epoch=1, global_step=2)
    data = saved.to_dict() | {"new_field": 3}
    assert event_from_dict(data) == saved


def test_every_event_kind_is_unique() -> None:
    assert len({cls.kind for cls in EVENT_TYPES.values()}) == len(EVENT_TYPES)


def test_disabled_bus_delivers_nothing() -> None:
    got: list[object] = []
    bus = EventBus([got.append], enabled=False)
    bus.emit(CheckpointSaved(path="p", reason="best", epoch=1, global_step=2))
    assert got == []
    bus.enabled = True
    bus.emit(CheckpointSaved(path="p", reason="best", epoch=1, global_step=2))
    assert len(got) == 1


def test_schema_1_events_still_read() -> None:
    """Run directories written before schema 2 named the accuracies `*_accuracy`."""
    old = {"v": 1, "kind": "epoch_ended", "time": 1.0, "epoch": 1, "epochs": 2,
           "train_loss": 0.5, "train_accuracy": 0.8, "val_loss": 0.4, "val_accuracy": 0.9,
           "lr": 0.1, "epoch_time": 1.0, "samples_per_second": 10.0, "global_step": 3}
    event = event_from_dict(old)
    assert isinstance(event, EpochEnded) and (event.train_acc, event.val_acc) == (0.8, 0.9)


def test_a_failing_view_sink_is_detached_and_reported_once() -> None:
    """Optional (display) sinks never stop training; essential ones do."""
    reports: list[str] = []
    got: list[object] = []

    def broken(_event: object) -> None:
        raise OSError("terminal gone")

    bus = EventBus([got.append], on_sink_error=lambda sink, exc: reports.append(str(exc)))
    bus.subscribe(broken, optional=True)
    event = CheckpointSaved(path="p", reason="best", epoch=1, global_step=2)
    bus.emit(event)
    bus.emit(event)
    assert got == [event, event] and reports == ["terminal gone"]
    bus.subscribe(broken)
    with pytest.raises(OSError):
        bus.emit(event)
    bus.emit_final(event)  # the last event reaches every sink that takes it
    assert len(got) == 4
