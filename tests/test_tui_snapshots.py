"""SVG snapshots of the app fed with the recorded digits stream (pytest-textual-snapshot).

Update with `pytest tests/test_tui_snapshots.py --snapshot-update`, then review the SVGs
(snapshot_report.html shows the differences) before committing them.
"""

from __future__ import annotations

import pytest

from trainui.core import events as ev
from trainui.themes import available_themes
from tui_fixtures import FakeJob, settle, staged_app

SIZES = [(80, 24), (120, 40)]


def snapshot(snap_compare, jobs, stage, size, theme="dark", press=()):  # type: ignore[no-untyped-def]
    app, job = staged_app(stage, theme)
    jobs.append(job)

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot, job)

    return snap_compare(app, press=press, terminal_size=size, run_before=run_before)


class TestRunning:
    @pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
    def test_running(self, snap_compare, jobs, size) -> None:  # type: ignore[no-untyped-def]
        """Mid-run: header RUNNING, epoch 4/10 bars, loss and accuracy charts, LR, early
        stopping wait 1/5, the event log with saves and the LR change."""
        assert snapshot(snap_compare, jobs, "running", size)


class TestPaused:
    @pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
    def test_paused(self, snap_compare, jobs, size) -> None:  # type: ignore[no-untyped-def]
        """After a Paused event: the header says PAUSED and the log has the pause line."""
        assert snapshot(snap_compare, jobs, "paused", size)


class TestFinished:
    @pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
    def test_finished(self, snap_compare, jobs, size) -> None:  # type: ignore[no-untyped-def]
        """After Finished: why it stopped, overall test metrics, the shaded 10x10 confusion
        matrix with class names and the per-class table, all within the terminal."""
        assert snapshot(snap_compare, jobs, "finished", size)


class TestThemes:
    @pytest.mark.parametrize("theme", available_themes())
    def test_running_in_theme(self, snap_compare, jobs, theme) -> None:  # type: ignore[no-untyped-def]
        """Panels and chart series take the theme's colours."""
        assert snapshot(snap_compare, jobs, "running", (100, 30), theme)

    @pytest.mark.parametrize("theme", available_themes())
    def test_confusion_matrix_in_theme(self, snap_compare, jobs, theme) -> None:  # type: ignore[no-untyped-def]
        """Confusion-matrix shading uses the theme's correct/wrong colours."""
        assert snapshot(snap_compare, jobs, "finished", (100, 30), theme)

    def test_no_color(self, snap_compare, jobs, monkeypatch) -> None:  # type: ignore[no-untyped-def]
        """With NO_COLOR set the app renders in monochrome and stays readable."""
        monkeypatch.setenv("NO_COLOR", "1")
        assert snapshot(snap_compare, jobs, "running", (80, 24))


class TestSmallTerminal:
    def test_too_small_says_how_large(self, snap_compare, jobs) -> None:  # type: ignore[no-untyped-def]
        """Below 60x18 the run is replaced by the size needed."""
        assert snapshot(snap_compare, jobs, "running", (50, 15))


class TestScreens:
    def test_help(self, snap_compare, jobs) -> None:  # type: ignore[no-untyped-def]
        """`?` lists every key over the running view."""
        assert snapshot(snap_compare, jobs, "running", (80, 24), press=["question_mark"])

    def test_quit_asks_while_running(self, snap_compare, jobs) -> None:  # type: ignore[no-untyped-def]
        """`q` while training runs asks: stop & save, or cancel."""
        assert snapshot(snap_compare, jobs, "running", (80, 24), press=["q"])


class TestFailure:
    def test_failure_reason_on_screen(self, snap_compare, jobs) -> None:  # type: ignore[no-untyped-def]
        """A Failed event shows its message in a box, and the header says FAILED."""
        from trainui.core.control import Control
        from trainui.tui.app import TrainApp
        from tui_fixtures import running_events

        events = [
            *running_events()[:8],
            ev.Failed(
                time=1_700_000_007.0,
                message=(
                    "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB "
                    "(see runs/x/error.log)"
                ),
            ),
        ]
        job = FakeJob(events)
        app = TrainApp(job, Control(), clock=lambda: 1_700_000_008.0)

        async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
            await settle(pilot, job, done=True)

        assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


class TestSessions:
    def test_starting(self, snap_compare, jobs) -> None:  # type: ignore[no-untyped-def]
        """While the trainer sets up: STARTING, and what it is doing, before any data."""
        from trainui.core.control import Control
        from trainui.tui.app import TrainApp

        events = [ev.StageStarted(time=100.0, stage="importing torch"),
                  ev.StageStarted(time=102.0, stage="loading data set digits")]
        job = FakeJob(events, hold=True)
        jobs.append(job)
        app = TrainApp(job, Control(), clock=lambda: 103.0)

        async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
            await settle(pilot, job)

        assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)

    def test_resumed(self, snap_compare, jobs) -> None:  # type: ignore[no-untyped-def]
        """A run stopped after epoch 4 and resumed from epoch 3: the live session, charts
        from the checkpoint on, the session boundary drawn and in the legends."""
        from test_tui_sessions import first_session, second_session

        from trainui.core.control import Control
        from trainui.tui.app import TrainApp

        old = first_session()
        new = second_session(old[-1].time + 10)
        job = FakeJob([*old, *new], hold=True)
        jobs.append(job)
        app = TrainApp(job, Control(), clock=lambda: new[-1].time + 1)

        async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
            await settle(pilot, job)

        assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)
