"""Pilot tests with the recorded stream: keys reach Control and the screen says so."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from trainui.core import events as ev
from trainui.core.control import Control
from trainui.tui.app import TrainApp
from trainui.tui.final_report import FinalReport
from trainui.tui.header import RunHeader
from trainui.tui.help_screen import HelpScreen
from trainui.tui.loss_chart import LossChart
from trainui.tui.quit_screen import ConfirmQuitScreen
from trainui.tui.size_guard import TooSmall
from tui_fixtures import (
    FakeJob,
    async_test,
    finished_tail,
    paused_events,
    running_events,
    settle,
    staged_app,
)

SIZE = (100, 30)


@pytest.fixture
def control() -> Control:
    return Control()


@pytest.fixture
def held() -> Iterator[list[FakeJob]]:
    """Jobs released after the test, so no replay thread is left waiting."""
    jobs: list[FakeJob] = []
    yield jobs
    for job in jobs:
        job.release.set()


def running_app(control: Control, held: list[FakeJob], tail: list[ev.Event] | None = None):  # type: ignore[no-untyped-def]
    """An app held mid-run; releasing the job replays `tail` (default: to Finished)."""
    events = paused_events()
    job = FakeJob(running_events(), tail if tail is not None else events[-1:] + finished_tail(),
                  hold=True)  # fmt: skip
    held.append(job)
    return TrainApp(job, control, clock=lambda: events[-1].time), job


def state(app: TrainApp) -> str:
    return app.query_one(RunHeader).state


class TestPauseSaveEnd:
    @async_test
    async def test_p_and_space_toggle_pause(self, control, held) -> None:  # type: ignore[no-untyped-def]
        """p pauses (the header says pausing until the core confirms), space resumes."""
        app, job = running_app(control, held)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, job)
            await pilot.press("p")
            assert control.paused and state(app) == "pausing"
            await pilot.press("space")
            assert not control.paused and state(app) == "resuming"

    @async_test
    async def test_paused_event_shows_paused(self, control, held) -> None:  # type: ignore[no-untyped-def]
        """The core's Paused event turns the header to PAUSED."""
        app, job = staged_app("paused", control=control)
        held.append(job)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, job)
            assert state(app) == "paused"

    @async_test
    async def test_s_requests_a_checkpoint(self, control, held) -> None:  # type: ignore[no-untyped-def]
        """s asks the loop for a checkpoint at the next step."""
        app, job = running_app(control, held)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, job)
            await pilot.press("s")
            assert control.take_save_request()

    @async_test
    async def test_e_finishes_after_the_epoch(self, control, held) -> None:  # type: ignore[no-untyped-def]
        """e asks to stop after the current epoch; the header says stopping."""
        app, job = running_app(control, held)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, job)
            await pilot.press("e")
            assert control.stop_mode == "epoch" and state(app) == "stopping"


class TestQuit:
    @async_test
    async def test_q_asks_and_cancel_keeps_training(self, control, held) -> None:  # type: ignore[no-untyped-def]
        """q while running opens the confirmation; n closes it and nothing is stopped."""
        app, job = running_app(control, held)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, job)
            await pilot.press("q")
            assert isinstance(app.screen, ConfirmQuitScreen)
            assert control.stop_mode is None
            await pilot.press("n")
            assert not isinstance(app.screen, ConfirmQuitScreen)
            assert control.stop_mode is None and app.is_running

    @async_test
    async def test_leave_it_training_closes_the_view_only(self, control, held) -> None:  # type: ignore[no-untyped-def]
        """With a trainer of its own (`trainui train` on a terminal), l in the dialog closes
        the view and asks the trainer nothing; a view whose training runs in its own process
        has no such choice (l there does nothing)."""
        app, job = running_app(control, held)
        app.can_leave_running = True
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, job)
            await pilot.press("q", "l")
            await pilot.pause()
            assert app.left_running and app.return_code == 0
        assert control.stop_mode is None and not control.take_save_request()
        app, job = running_app(control, held)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, job)
            await pilot.press("q", "l")
            assert isinstance(app.screen, ConfirmQuitScreen) and not app.left_running

    @async_test
    async def test_enter_in_the_dialog_cancels(self, control, held) -> None:  # type: ignore[no-untyped-def]
        """Cancel has the focus: a stray Enter does not stop a long run."""
        app, job = running_app(control, held)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, job)
            await pilot.press("q", "enter")
            assert control.stop_mode is None

    @async_test
    async def test_q_then_stop_saves_stops_and_quits_when_done(self, control, held) -> None:  # type: ignore[no-untyped-def]
        """y stops now with a save request, and the app exits once the job has ended."""
        app, job = running_app(control, held)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, job)
            await pilot.press("q", "y")
            assert control.stop_mode == "now" and control.take_save_request()
            assert app.is_running and state(app) == "stopping"
            job.release.set()
            await asyncio.to_thread(job.done.wait, 10)
            await pilot.pause()
        assert app.return_code == 0

    @async_test
    async def test_q_after_finish_quits_at_once(self, control, held) -> None:  # type: ignore[no-untyped-def]
        """Once the run is over, q quits without asking; the report stayed until then."""
        app, job = staged_app("finished", control=control)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, job, done=True)
            await pilot.pause()
            assert app.query_one(FinalReport).finished is not None
            assert app.is_running
            await pilot.press("q")
        assert app.return_code == 0


class TestCtrlC:
    @async_test
    async def test_first_stops_gracefully_second_quits(self, control, held) -> None:  # type: ignore[no-untyped-def]
        """Ctrl+C asks for a stop now; a second Ctrl+C exits at once with 130."""
        app, job = running_app(control, held)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, job)
            await pilot.press("ctrl+c")
            assert control.stop_mode == "now" and app.is_running
            await pilot.press("ctrl+c")
        assert app.return_code == 130

    @async_test
    async def test_graceful_stop_exits_130_when_the_job_ends(self, control, held) -> None:  # type: ignore[no-untyped-def]
        """After one Ctrl+C the app leaves by itself once the run is saved, with 130."""
        app, job = running_app(control, held)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, job)
            await pilot.press("ctrl+c")
            job.release.set()
            await asyncio.to_thread(job.done.wait, 10)
            await pilot.pause()
        assert app.return_code == 130


class TestScreensAndThemes:
    @async_test
    async def test_t_cycles_the_bundled_themes(self, control, held) -> None:  # type: ignore[no-untyped-def]
        """t moves through dark, high-contrast, light and back."""
        app, job = running_app(control, held)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, job)
            seen = [app.theme]
            for _ in range(3):
                await pilot.press("t")
                seen.append(app.theme)
            assert seen == ["dark", "high-contrast", "light", "dark"]

    @async_test
    async def test_question_mark_opens_help_and_escape_closes(self, control, held) -> None:  # type: ignore[no-untyped-def]
        """? shows the keys; escape returns to the run."""
        app, job = running_app(control, held)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, job)
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
            assert not isinstance(app.screen, HelpScreen)

    @async_test
    async def test_resize_below_minimum_and_back(self, control, held) -> None:  # type: ignore[no-untyped-def]
        """Shrinking below 60x18 shows the size message; growing again shows the run."""
        app, job = running_app(control, held)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, job)
            await pilot.resize_terminal(50, 15)
            await pilot.pause()
            assert app.query_one(TooSmall).display and not app.query_one("#body").display
            await pilot.resize_terminal(80, 24)
            await pilot.pause()
            assert not app.query_one(TooSmall).display and app.query_one("#body").display


class TestFailures:
    @async_test
    async def test_failed_event_is_shown_and_exit_code_is_1(self, control) -> None:  # type: ignore[no-untyped-def]
        """The failure message is on screen; quitting returns 1."""
        job = FakeJob([*running_events()[:3], ev.Failed(message="disk full")])
        app = TrainApp(job, control, clock=lambda: 1_700_000_010.0)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, job, done=True)
            await pilot.pause()
            assert app.query_one(FinalReport).failure == "disk full"
            assert state(app) == "failed"
            await pilot.press("q")
        assert app.return_code == 1

    @async_test
    async def test_a_raising_job_is_reported(self, control) -> None:  # type: ignore[no-untyped-def]
        """A job that raises without emitting Failed still shows why."""

        def job(sink: ev.Sink) -> None:
            raise OSError("no space left on device")

        app = TrainApp(job, control)
        async with app.run_test(size=SIZE) as pilot:
            for _ in range(50):
                await pilot.pause(0.02)
                if app.outcome is not None:
                    break
            assert app.query_one(FinalReport).failure == "OSError: no space left on device"
            await pilot.press("q")
        assert app.return_code == 1


class TestThrottling:
    @async_test
    async def test_charts_redraw_only_when_new_data_arrived(
        self, control, held, monkeypatch
    ) -> None:  # type: ignore[no-untyped-def]
        """The tick redraws a chart once after new data, then not again until more comes."""
        app, job = running_app(control, held)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, job)
            chart = app.query_one(LossChart)
            redraws: list[int] = []
            monkeypatch.setattr(chart, "redraw", lambda: redraws.append(1))
            app.flush_panels()
            app.flush_panels()
            assert redraws == []
            chart.add_step_losses([[71.0, 0.3]])
            app.flush_panels()
            app.flush_panels()
            assert redraws == [1]


class TestLearningRate:
    @async_test
    async def test_l_asks_for_a_learning_rate_and_sends_it(self, control, held) -> None:  # type: ignore[no-untyped-def]
        """l opens the prompt; a bad value says why and keeps it open; 1e-4 sets, x0.5
        scales; escape sends nothing."""
        from textual.widgets import Input, Static

        from trainui.tui.lr_screen import LearningRateScreen

        app, job = running_app(control, held)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, job)
            await pilot.press("l")
            assert isinstance(app.screen, LearningRateScreen)
            await pilot.press(*"abc", "enter")
            assert isinstance(app.screen, LearningRateScreen)
            assert "not a number" in str(app.screen.query_one("#problem", Static).render())
            app.screen.query_one(Input).value = ""
            await pilot.press(*"1e-4", "enter")
            assert not isinstance(app.screen, LearningRateScreen)
            assert control.take_lr_request() == ("set", 1e-4)
            await pilot.press("l", "x", "0", ".", "5", "enter")
            assert control.take_lr_request() == ("scale", 0.5)
            await pilot.press("l", "escape")
            assert not isinstance(app.screen, LearningRateScreen)
            assert control.take_lr_request() is None


def test_parse_lr() -> None:
    """Values set, x/* factors scale, /N divides; anything else is refused with a reason."""
    from trainui.tui.lr_screen import parse_lr

    assert parse_lr(" 3e-4 ") == ("set", 3e-4)
    assert parse_lr("x0.5") == parse_lr("*0.5") == parse_lr("/2") == ("scale", 0.5)
    for bad in ("", "abc", "-1", "0", "x-2", "/0", "1e9", "nan"):
        with pytest.raises(ValueError):
            parse_lr(bad)


class TestNotify:
    @pytest.mark.parametrize("notify", [True, False])
    @async_test
    async def test_a_run_started_with_notify_rings_when_it_ends(self, notify: bool) -> None:
        """--notify in the run's config: the view writes the bell and the desktop
        notification to the terminal as the run ends; without it, nothing."""
        import dataclasses

        from trainui.tui.app import TrainApp
        from tui_fixtures import FakeJob, clock_after, finished_events

        events = finished_events()
        events = [dataclasses.replace(e, config={**e.config, "notify": notify})
                  if isinstance(e, ev.RunStarted) else e for e in events]
        job = FakeJob(events)
        app = TrainApp(job, Control(), clock=clock_after(events))
        written: list[str] = []
        app.write_to_terminal = written.append  # type: ignore[method-assign]
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, job, done=True)
        if notify:
            assert len(written) == 1 and written[0].startswith("\x07")
            assert "]9;trainui: " in written[0] and " finished: " in written[0]
        else:
            assert written == []
