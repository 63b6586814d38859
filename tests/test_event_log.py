"""events.jsonl: append-only, flushed on notable events, tolerant readers."""

from __future__ import annotations

import json
from pathlib import Path

from trainui.core.event_file import EventLogReader, EventLogSink, read_events
from trainui.core.events import CheckpointSaved, Paused, Progress


def progress(step: int) -> Progress:
    return Progress(epoch=1, epochs=1, step=step, steps_per_epoch=10, global_step=step,
                    train_loss=0.5, train_acc=0.5, samples_per_second=1.0, lr=0.1)


def test_notable_events_are_visible_at_once(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    sink = EventLogSink(log)
    sink(Paused(epoch=1, global_step=3))
    lines = log.read_text().splitlines()
    assert json.loads(lines[0])["kind"] == "paused" and json.loads(lines[0])["v"] == 2
    assert (log.stat().st_mode & 0o777) == 0o600  # owner-only
    sink.close()


def test_reader_skips_a_truncated_last_line_and_unknown_kinds(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    good = Paused(epoch=1, global_step=3)
    log.write_text(
        json.dumps(good.to_dict()) + "\n"
        + json.dumps({"v": 9, "kind": "hologram", "x": 1}) + "\n"
        + "not json\n"
        + json.dumps(progress(4).to_dict())[:25]  # crash mid-write
    )
    assert list(read_events(log)) == [good]


def test_reader_is_incremental_and_waits_for_line_ends(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    reader = EventLogReader(log)
    assert reader.read_new() == []
    event = progress(1)
    text = json.dumps(event.to_dict()) + "\n"
    log.write_text(text[:10])
    assert reader.read_new() == []
    with log.open("a") as handle:
        handle.write(text[10:])
    assert reader.read_new() == [event]
    assert reader.read_new() == []


def test_appending_after_a_crash_keeps_new_events_whole(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    log.write_text('{"kind": "paused", "epo')  # the previous process died mid-line
    sink = EventLogSink(log)
    saved = CheckpointSaved(path="p", reason="last", epoch=2, global_step=9)
    sink(saved)
    sink.close()
    assert list(read_events(log)) == [saved]
