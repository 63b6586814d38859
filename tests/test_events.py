"""Events are plain data that round-trip through dicts."""

from __future__ import annotations

import json

from trainui.core.events import (
    EVENT_TYPES,
    CheckpointSaved,
    EventBus,
    Progress,
    event_from_dict,
)


def test_round_trip_through_json() -> None:
    event = Progress(epoch=1, epochs=2, step=3, steps_per_epoch=4, global_step=3,
                     train_loss=0.5, train_accuracy=0.75, samples_per_second=100.0, lr=0.1,
                     step_losses=[[1.0, 0.7], [2.0, 0.6]])
    data = json.loads(json.dumps(event.to_dict()))
    assert data["kind"] == "progress" and data["v"] == 1
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
