"""The screen shows the session that is running: set-up stages, a resumed run, its history.

The recorded real run (tests/data/recorded_run.jsonl) is cut after epoch 4 and resumed from
epoch 3, as a run killed after its epoch-3 checkpoint and continued with --resume would be.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest

from trainui.core import events as ev
from trainui.core.control import Control
from trainui.core.run_summary import RunSummary
from trainui.tui.accuracy_chart import AccuracyChart
from trainui.tui.app import TrainApp
from trainui.tui.final_report import FinalReport
from trainui.tui.header import RunHeader
from trainui.tui.loss_chart import LossChart
from trainui.tui.requests import PendingRequests
from tui_fixtures import FakeJob, async_test, finished_events, settle

SIZE = (120, 40)


def first_session() -> list[ev.Event]:
    """The recorded run up to its fourth epoch's end, then stopped by request."""
    events = finished_events()
    end = next(i for i, e in enumerate(events) if isinstance(e, ev.EpochEnded) and e.epoch == 4)
    last = events[end]
    stop = ev.Finished(time=last.time + 1, cause="user", reason="stopped by request",
                       epochs_completed=4, global_step=80, elapsed=12.0, metrics=None,
                       confusion_matrix=None, class_names=[])
    return [*events[:end + 1], stop]


def second_session(after: float) -> list[ev.Event]:
    """Set-up stages, then the run resumed from epoch 3, and some progress."""
    started = finished_events()[0]
    assert isinstance(started, ev.RunStarted)
    resumed = dataclasses.replace(started, time=after + 3, start_epoch=3, elapsed_before=12.0)
    progress = ev.Progress(time=after + 4, epoch=4, epochs=9, step=5, steps_per_epoch=20,
                           global_step=65, train_loss=0.2, train_acc=0.9,
                           samples_per_second=900.0, lr=3e-4,
                           step_losses=[[61.0, 0.21], [65.0, 0.2]])
    return [ev.StageStarted(time=after + 1, stage="importing torch"),
            ev.StageStarted(time=after + 2, stage="loading the last checkpoint"),
            resumed, progress]


def app_for(job: FakeJob, now: float) -> TrainApp:
    return TrainApp(job, Control(), clock=lambda: now)


class TestResumedRun:
    @async_test
    async def test_live_session_replaces_the_old_report(self) -> None:
        """After a resume the view is live again: state, keys, charts from the resumed
        point on, the boundary marked; the old ending is gone from the body."""
        old = first_session()
        new = second_session(old[-1].time + 10)
        job = FakeJob([*old, *new], hold=True)  # the run goes on
        app = app_for(job, new[-1].time + 1)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, job)
            job.release.set()
            assert app.query_one(RunHeader).state == "running"
            assert app.outcome is None and app.check_action("toggle_pause", ()) is True
            assert app.query_one(FinalReport).finished is None
            loss = app.query_one(LossChart)
            assert loss.resumed_at == [60]
            xs, _ = loss.step_loss.points()
            assert max(xs) == 65 and all(x <= 60 or x >= 61 for x in xs)
            accuracy = app.query_one(AccuracyChart)
            assert accuracy.resumed_at == [3]
            assert accuracy.train.points()[0] == [1, 2, 3]
            assert "resumed" in str(loss.border_title)

    @async_test
    async def test_set_up_stages_show_what_the_trainer_does(self) -> None:
        """Before RunStarted, the header says STARTING and the stage under way."""
        events = [ev.StageStarted(time=100.0, stage="importing torch"),
                  ev.StageStarted(time=101.0, stage="loading data set digits")]
        job = FakeJob(events, hold=True)
        app = app_for(job, 103.5)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, job)
            job.release.set()
            header = app.query_one(RunHeader)
            assert header.state == "starting"
            assert header._run_line().plain == "starting: loading data set digits (0:02)"

    @async_test
    async def test_a_watched_resumed_run_is_restored_from_its_summary(self) -> None:
        """A watcher opening on a resumed run gets the whole history from the summary, the
        live session on screen."""
        summary = RunSummary()
        old = first_session()
        new = second_session(old[-1].time + 10)
        for event in [*old, *new]:
            summary.add(event)

        release = threading.Event()

        def job(feed: object) -> None:
            feed.restore(summary)  # type: ignore[attr-defined]
            release.wait(10)  # the run goes on

        app = TrainApp(job, Control(), clock=lambda: new[-1].time + 1, watching=True)
        async with app.run_test(size=SIZE) as pilot:
            for _ in range(3):
                await pilot.pause()
            app.flush_panels()
            release.set()
            assert app.query_one(RunHeader).state == "running"
            assert app.outcome is None
            assert app.query_one(LossChart).resumed_at == [60]
            assert app.query_one(AccuracyChart).train.points()[0] == [1, 2, 3]


def test_unconfirmed_requests_are_reported_once() -> None:
    """A pause left unconfirmed is named once; a confirmed one never."""
    pending = PendingRequests(patience=5.0)
    pending.sent("pause", 0.0)
    pending.sent("save", 0.0)
    pending.heard(ev.CheckpointSaved(path="p", reason="last", epoch=1, global_step=1))
    assert pending.overdue(4.9) == []
    pending.heard(ev.CheckpointSaved(path="p", reason="requested", epoch=1, global_step=1))
    late = pending.overdue(5.0)
    assert len(late) == 1 and "the pause" in late[0]
    assert pending.overdue(60.0) == []


@pytest.mark.parametrize("watching, fragment", [(False, "asks first"),
                                                 (True, "training goes on")])
def test_help_says_what_q_does_in_each_mode(watching: bool, fragment: str) -> None:
    from trainui.tui.keys import help_rows

    rows = dict(help_rows(watching))
    assert fragment in rows["q"]


@async_test
async def test_a_watched_finished_run_ends_with_its_outcome() -> None:
    """Restored from the summary of a completed run: the report shows, the status is 0."""
    summary = RunSummary()
    for event in finished_events():
        summary.add(event)
    app = TrainApp(lambda feed: feed.restore(summary), Control(),  # type: ignore[attr-defined]
                   clock=lambda: finished_events()[-1].time + 1, watching=True)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(3):
            await pilot.pause()
        assert app.outcome == 0 and app.query_one(FinalReport).finished is not None
        await pilot.press("q")
    assert app.return_code == 0


@async_test
async def test_run_keys_on_a_finished_run_say_why_nothing_happens() -> None:
    """p, s and e leave the footer once the run is over; pressed anyway, they say so."""
    summary = RunSummary()
    for event in finished_events():
        summary.add(event)
    app = TrainApp(lambda feed: feed.restore(summary), Control(),  # type: ignore[attr-defined]
                   clock=lambda: finished_events()[-1].time + 1, watching=True)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(3):
            await pilot.pause()
        assert app.check_action("save", ()) is False
        await pilot.press("s", "e")
        await pilot.pause()
        messages = [str(note.message) for note in app._notifications]
        assert messages == ["The run is over (finished): nothing to save",
                            "The run is over (finished): nothing to stop"]


class TestLaunchedTrainer:
    """`trainui train`/`trainui run` follow a trainer they just started: the view shows it
    starting until a session starts after the launch, and never after one has."""

    @staticmethod
    def followed(tmp_path: Path, launched_at: float) -> list[ev.Event]:
        from trainui.core.event_file import EVENT_LOG, EventLogSink
        from trainui.tui.watch import follow

        sink = EventLogSink(tmp_path / EVENT_LOG)
        for event in finished_events():
            sink(event)
        sink.close()
        seen: list[ev.Event] = []
        follow(tmp_path, seen.append, new_session=launched_at, alive=lambda: False, poll=0.01)
        return seen

    def test_a_session_started_since_the_launch_is_not_shown_starting(self, tmp_path: Path) -> None:
        """A script that trained before the view opened: its session is the launched one,
        so no "starting" stage follows it and its ending ends the view."""
        events = finished_events()
        seen = self.followed(tmp_path, launched_at=events[0].time - 5)
        assert not any(isinstance(e, ev.StageStarted) for e in seen)
        assert isinstance(seen[-1], ev.Finished)

    def test_an_earlier_session_waits_for_the_new_one(self, tmp_path: Path) -> None:
        """A resumed run: the log's session is older than the launch, so the view shows
        the trainer starting (and here, with no trainer alive, says it went away)."""
        events = finished_events()
        seen = self.followed(tmp_path, launched_at=events[-1].time + 5)
        stages = [e for e in seen if isinstance(e, ev.StageStarted)]
        assert [s.stage for s in stages] == ["the trainer is starting"]
        assert isinstance(seen[-1], ev.Failed)
