"""Pilot tests driving a real short training run on digits through the app's keys."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from trainui.core import events as ev
from trainui.core.config import RunConfig
from trainui.core.control import Control
from trainui.core.job import run_training
from trainui.tui.app import TrainApp
from trainui.tui.final_report import FinalReport
from trainui.tui.header import RunHeader
from trainui.tui.quit_screen import ConfirmQuitScreen
from tui_fixtures import async_test

pytestmark = pytest.mark.slow

SIZE = (100, 30)


class Recorder:
    """A second sink: every event the core emitted, in order (appends are thread-safe)."""

    def __init__(self) -> None:
        self.events: list[ev.Event] = []

    def __call__(self, event: ev.Event) -> None:
        self.events.append(event)

    def of(self, kind: type[ev.Event]) -> list[ev.Event]:
        return [event for event in list(self.events) if isinstance(event, kind)]

    def last_step(self) -> int:
        steps = self.of(ev.Progress)
        return steps[-1].global_step if steps else 0  # type: ignore[attr-defined]


class Run:
    """A real digits run (MLP, short epochs; too many to finish before a test stops it)."""

    def __init__(self, tmp_path: Path) -> None:
        self.config = RunConfig(
            dataset="digits", model="mlp", epochs=1000, batch_size=32, scheduler="none",
            patience=100, run_dir=str(tmp_path / "run"), device="cpu", seed=0,
            progress_interval=0.02,
        )  # fmt: skip
        self.control = Control()
        self.recorder = Recorder()
        self.job_done = threading.Event()
        self.app = TrainApp(self.job, self.control, refresh_rate=20)

    def job(self, sink: ev.Sink) -> None:
        try:
            run_training(self.config, [sink, self.recorder], self.control)
        finally:
            self.job_done.set()


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    started = Run(tmp_path)
    yield started
    started.control.request_stop("now")  # never leave a training thread behind
    started.job_done.wait(30)


async def until(pilot, condition: Callable[[], object], what: str, limit: float = 60) -> None:  # type: ignore[no-untyped-def]
    """Let the app run until `condition()` holds (a generous limit, not a timing check)."""
    for _ in range(int(limit / 0.02)):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"gave up waiting for {what}")


def header_state(app: TrainApp) -> str:
    return app.query_one(RunHeader).state


@async_test
async def test_pause_stops_steps_and_resume_continues(run: Run) -> None:
    """p pauses within a step: no Progress while paused, steps resume after p again."""
    async with run.app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: run.recorder.last_step() > 0, "the first steps")
        await pilot.press("p")
        await until(pilot, lambda: run.recorder.of(ev.Paused), "the Paused event")
        await until(pilot, lambda: header_state(run.app) == "paused", "the header to say paused")
        paused_at = run.recorder.of(ev.Paused)[0].global_step  # type: ignore[attr-defined]
        seen = len(run.recorder.events)
        await pilot.pause(0.5)
        assert run.recorder.events[seen:] == []
        assert run.recorder.last_step() <= paused_at
        await pilot.press("p")
        await until(pilot, lambda: run.recorder.last_step() > paused_at, "steps after resuming")
        assert run.recorder.of(ev.Resumed)
        assert header_state(run.app) == "running"


@async_test
async def test_s_writes_a_checkpoint(run: Run) -> None:
    """s saves a 'requested' checkpoint at the next step; the file exists."""
    async with run.app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: run.recorder.last_step() > 0, "the first steps")
        await pilot.press("s")
        requested = lambda: [e for e in run.recorder.of(ev.CheckpointSaved)  # noqa: E731
                             if e.reason == "requested"]  # type: ignore[attr-defined]  # fmt: skip
        await until(pilot, requested, "the requested checkpoint")
        assert Path(requested()[0].path).is_file()  # type: ignore[attr-defined]


@async_test
async def test_e_ends_early_with_a_final_evaluation(run: Run) -> None:
    """e stops after the current epoch, evaluates the test split and shows the report."""
    async with run.app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: run.recorder.last_step() > 0, "the first steps")
        await pilot.press("e")
        await until(pilot, lambda: run.app.outcome is not None, "the end of the run")
        finished = run.recorder.of(ev.Finished)[0]
        assert finished.cause == "user"  # type: ignore[attr-defined]
        assert finished.epochs_completed < run.config.epochs  # type: ignore[attr-defined]
        assert finished.metrics and "accuracy" in finished.metrics  # type: ignore[attr-defined]
        assert run.recorder.of(ev.EvaluationFinished)
        assert run.app.query_one(FinalReport).finished is finished
        assert header_state(run.app) == "finished" and run.app.is_running


@async_test
async def test_q_asks_before_stopping(run: Run) -> None:
    """q opens the question and training goes on; choosing stop saves, stops and quits."""
    async with run.app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: run.recorder.last_step() > 0, "the first steps")
        await pilot.press("q")
        assert isinstance(run.app.screen, ConfirmQuitScreen)
        assert not run.recorder.of(ev.StopRequested)
        step = run.recorder.last_step()
        await until(pilot, lambda: run.recorder.last_step() > step, "training to go on")
        await pilot.press("y")
        await until(pilot, lambda: not run.app.is_running, "the app to quit", limit=90)
    stops = run.recorder.of(ev.StopRequested)
    assert stops and stops[0].mode == "now"  # type: ignore[attr-defined]
    saves = [e for e in run.recorder.of(ev.CheckpointSaved) if e.reason == "requested"]  # type: ignore[attr-defined]
    assert saves and Path(saves[0].path).is_file()  # type: ignore[attr-defined]
    assert run.recorder.of(ev.Finished) and run.app.return_code == 0
