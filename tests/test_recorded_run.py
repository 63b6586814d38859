"""The recorded run the TUI tests replay still matches what trainui emits.

When an event gains, loses or renames a field, these fail: bring the recording up to date
with `python tests/record_run.py --upgrade` (a field added with a default), or record the
stream anew with `python tests/record_run.py`; review the snapshot changes, commit both.
"""

from __future__ import annotations

import dataclasses
import json

from trainui.core.events import EVENT_TYPES, SCHEMA_VERSION, event_from_dict
from tui_fixtures import RECORDING


def _recorded() -> list[dict[str, object]]:
    return [json.loads(line) for line in RECORDING.read_text().splitlines()]


def test_every_recorded_event_has_exactly_the_current_fields() -> None:
    """Each line names every field of its event type and no other, at this schema."""
    for data in _recorded():
        cls = EVENT_TYPES[str(data["kind"])]
        fields = {spec.name for spec in dataclasses.fields(cls)} | {"v", "kind"}
        assert set(data) == fields, data["kind"]
        assert data["v"] == SCHEMA_VERSION


def test_every_recorded_event_round_trips() -> None:
    """Reading a line and writing it again gives the same line."""
    for data in _recorded():
        event = event_from_dict(data)
        assert event is not None and event.to_dict() == data


def test_the_recording_covers_a_whole_run() -> None:
    """Start to finish, with LR changes, checkpoints, a pause and a save on request."""
    kinds = [data["kind"] for data in _recorded()]
    assert kinds[0] == "run_started" and kinds[-1] == "finished"
    for kind in ("progress", "epoch_ended", "early_stopping_updated", "checkpoint_saved",
                 "lr_changed", "paused", "resumed", "evaluation_finished"):
        assert kind in kinds, kind
    reasons = {data.get("reason") for data in _recorded() if data["kind"] == "checkpoint_saved"}
    assert {"best", "last", "periodic", "requested", "final_weights"} <= reasons
