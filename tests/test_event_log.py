"""events.jsonl: append-only, flushed on notable events, tolerant readers."""

from __future__ import annotations

import json
from pathlib import Path

from trainui.core.event_file import EventLogReader, EventLogSink, read_events
from trainui.core.events import CheckpointSaved, Paused, Progress


def progress(step: int, at: float = 1.0) -> Progress:
    return Progress(time=at, epoch=1, epochs=1, step=step, steps_per_epoch=10,
                    global_step=step, train_loss=0.5, train_acc=0.5, samples_per_second=1.0,
                    lr=0.1, step_losses=[[float(step), 0.5]])


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
    saved = CheckpointSaved(time=1.5, path="p", reason="last", epoch=2, global_step=9)
    sink(saved)
    sink.close()
    assert list(read_events(log)) == [saved]


def test_progress_is_coalesced_and_kept_in_order(tmp_path: Path) -> None:
    """Progress lines are at most one per interval; the ones held back give their step
    losses to the next line, and any other event writes a held line first."""
    log = tmp_path / "events.jsonl"
    sink = EventLogSink(log, progress_interval=1.0)
    for step in range(1, 6):
        sink(progress(step, at=10 + step / 10))
    assert [e.kind for e in read_events(log)] == ["progress"]  # the first one, at once
    sink(Paused(time=2.0, epoch=1, global_step=5))
    events = list(read_events(log))
    assert [e.kind for e in events] == ["progress", "progress", "paused"]
    assert [p[0] for p in events[1].step_losses] == [2.0, 3.0, 4.0, 5.0]  # type: ignore[attr-defined]
    assert events[1].global_step == 5  # type: ignore[attr-defined]


def test_lines_are_compact(tmp_path: Path) -> None:
    """Floats keep 7 significant digits, times milliseconds; no spaces."""
    log = tmp_path / "events.jsonl"
    sink = EventLogSink(log)
    sink(Progress(time=1.123456789, epoch=1, epochs=1, step=1, steps_per_epoch=1,
                  global_step=1, train_loss=0.123456789123, train_acc=1 / 3,
                  samples_per_second=1234.56789, lr=0.001))
    sink.close()
    line = log.read_text()
    assert '"time":1.123,' in line and '"train_loss":0.1234568' in line and " " not in line


def test_offset_and_on_written_follow_the_file(tmp_path: Path) -> None:
    """Each written line is announced with the file's size after it (what a summary covers)."""
    log = tmp_path / "events.jsonl"
    heard: list[tuple[str, int]] = []
    sink = EventLogSink(log, on_written=lambda event, offset: heard.append((event.kind, offset)))
    sink(Paused(epoch=1, global_step=3))
    sink(Paused(epoch=1, global_step=4))
    assert [offset for _, offset in heard] == [len(line) for line in _cumulative(log)]
    assert heard[-1][1] == log.stat().st_size == sink.offset


def _cumulative(log: Path) -> list[bytes]:
    data = log.read_bytes()
    ends = [i + 1 for i, byte in enumerate(data) if byte == ord("\n")]
    return [data[:end] for end in ends]


def test_coalesced_progress_keeps_every_metric(tmp_path: Path) -> None:
    """A metric carried by a held-back line (a grad norm logged once) is not lost."""
    import dataclasses

    log = tmp_path / "events.jsonl"
    sink = EventLogSink(log, progress_interval=1.0)
    sink(progress(1, at=10.1))
    sink(dataclasses.replace(progress(2, at=10.2), metrics={"grad_norm": 3.0, "ppl": 9.0}))
    sink(dataclasses.replace(progress(3, at=10.3), metrics={"ppl": 8.0}))
    sink.close()
    merged = list(read_events(log))[-1]
    assert merged.metrics == {"grad_norm": 3.0, "ppl": 8.0}  # type: ignore[attr-defined]
