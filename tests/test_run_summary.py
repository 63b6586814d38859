"""summary.json: a bounded digest of the run, so attaching costs the same for any length."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from trainui.core import events as ev
from trainui.core.outcome import RunState
from trainui.core.run_record import RunRecord
from trainui.core.run_summary import LOG_TAIL, SUMMARY, RunSummary, load_summary
from tui_fixtures import finished_events, paused_events


def record(run_dir: Path, events: list[ev.Event]) -> RunRecord:
    """Write events as a trainer does (events.jsonl and summary.json)."""
    writer = RunRecord(run_dir)
    for event in events:
        writer(event)
    return writer


def test_summary_plus_later_events_equals_reading_everything(tmp_path: Path) -> None:
    """What a watcher gets from summary.json and the events after it is what reading the
    whole log gives."""
    writer = record(tmp_path, finished_events())
    writer.close()
    stored = json.loads((tmp_path / SUMMARY).read_text())
    assert stored["events_offset"] == (tmp_path / "events.jsonl").stat().st_size
    (tmp_path / SUMMARY).unlink()
    from_log = load_summary(tmp_path)  # a run without a summary: read it all
    record_again = RunSummary.from_dict(stored)
    assert from_log.to_dict() == record_again.to_dict()


def test_stored_times_keep_the_millisecond(tmp_path: Path) -> None:
    """summary.json keeps wall-clock times exact enough for the log's stamps: the run's
    start and each event's time to the millisecond, as events.jsonl has them."""
    now = 1_795_830_756.389
    events = [dataclasses.replace(e, time=now + 6.4 * i)
              for i, e in enumerate(finished_events())]
    record(tmp_path, events).close()
    summary = load_summary(tmp_path)
    assert summary.started_at == round(now, 3)
    written = {round(e.time, 3) for e in events}
    assert summary.log and all(e.time in written for e in summary.log)
    assert max(e.time for e in summary.log) - summary.started_at > 6


def test_a_stale_summary_is_brought_up_to_date(tmp_path: Path) -> None:
    """Events written after the summary was last saved are read from the log."""
    writer = record(tmp_path, paused_events())
    writer.close()
    with (tmp_path / "events.jsonl").open("a") as log:
        for event in finished_events()[len(paused_events()):]:
            log.write(json.dumps(event.to_dict()) + "\n")
    summary = load_summary(tmp_path)
    assert isinstance(summary.ending(), ev.Finished)
    assert summary.state(trainer_alive=False) == RunState.FINISHED


def test_state_follows_the_current_session(tmp_path: Path) -> None:
    """Paused, finished; a resumed session starts over from its own events."""
    summary = RunSummary()
    for event in paused_events():
        summary.add(event)
    assert summary.state(trainer_alive=True) == RunState.PAUSED
    assert summary.state(trainer_alive=False) == RunState.INTERRUPTED
    for event in finished_events()[len(paused_events()):]:
        summary.add(event)
    assert summary.state(trainer_alive=False) == RunState.FINISHED
    first = finished_events()[0]
    assert isinstance(first, ev.RunStarted)
    summary.add(ev.StageStarted(time=first.time + 100, stage="importing torch"))
    assert summary.setting_up and summary.state(trainer_alive=True) == RunState.STARTING
    resumed = ev.RunStarted(**{**vars(first), "time": first.time + 101, "start_epoch": 4})
    summary.add(resumed)
    assert summary.state(trainer_alive=True) == RunState.RUNNING
    assert summary.ending() is None


def test_a_resumed_session_forgets_what_the_killed_one_did_after_its_checkpoint() -> None:
    """Epochs and step losses after the checkpoint the run resumed from are dropped."""
    summary = RunSummary()
    for event in finished_events():
        summary.add(event)
    first = finished_events()[0]
    assert isinstance(first, ev.RunStarted)
    summary.add(ev.RunStarted(**{**vars(first), "time": first.time + 100, "start_epoch": 4}))
    assert [e.epoch for e in summary.epochs] == [1, 2, 3, 4]
    xs, _ = summary.step_loss.points()
    assert max(xs) <= 4 * first.steps_per_epoch
    assert len(summary.sessions) == 2


def test_summary_stays_bounded() -> None:
    """A very long run keeps a summary of bounded size."""
    summary = RunSummary()
    started = finished_events()[0]
    summary.add(started)
    for epoch in range(1, 20_001):
        summary.add(ev.EpochEnded(time=float(epoch), epoch=epoch, epochs=20_000, train_loss=1.0,
                                  train_acc=0.5, val_loss=1.0, val_acc=0.5, lr=0.1,
                                  epoch_time=1.0, samples_per_second=1.0, global_step=epoch))
    assert len(summary.epochs) <= 2048 and summary.epochs[-1].epoch == 20_000
    assert len(summary.log) == LOG_TAIL
    assert len(json.dumps(summary.to_dict())) < 2_000_000


def test_a_resumed_run_is_not_ended_by_its_earlier_ending() -> None:
    """A session stopped by request, then resumed: the run is no longer stopped."""
    started = finished_events()[0]
    assert isinstance(started, ev.RunStarted)
    done = ev.Finished(time=started.time + 1, cause="user", reason="stopped",
                       epochs_completed=1, global_step=1, elapsed=1.0, metrics=None,
                       confusion_matrix=None, class_names=["0"])
    summary = RunSummary()
    for event in (started, done):
        summary.add(event)
    assert summary.state(trainer_alive=False) == RunState.STOPPED
    summary.add(ev.RunStarted(**{**vars(started), "time": started.time + 2, "start_epoch": 1}))
    assert summary.state(trainer_alive=False) == RunState.INTERRUPTED  # nobody trains it
