"""The live view as users run it: a trainer in its own process, keys through its FIFO.

Each test starts a real trainer (`trainui.tui.launch.launch_trainer`, as `trainui` does)
and drives the same app `trainui` opens (following the run directory, `RemoteControl` for
the keys) with Pilot. It also covers a trainer that stalls (SIGSTOP) or is gone.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import Processes
from trainui.core import events as ev
from trainui.core.config import RunConfig
from trainui.core.control_channel import RemoteControl
from trainui.core.event_file import EVENT_LOG, read_events
from trainui.core.run_dir import lock_holder, trainer_stopped
from trainui.tui.app import TrainApp
from trainui.tui.header import RunHeader
from trainui.tui.launch import Launched, launch_trainer
from trainui.tui.watch import follow
from tui_fixtures import async_test

pytestmark = pytest.mark.slow
SIZE = (100, 30)


def start(tmp_path: Path, processes: Processes) -> Launched:
    """A long MLP run on digits, trained by a process of its own."""
    run_dir = processes.own_run(tmp_path / "run")
    config = RunConfig(model="mlp", epochs=1000, patience=1000, batch_size=16,
                       scheduler="none", device="cpu", run_dir=str(run_dir))
    launched = launch_trainer(config, None)
    processes.started.append(launched.process)
    return launched


def view(launched: Launched) -> TrainApp:
    """The app `trainui train` opens on it."""
    remote = RemoteControl(launched.run_dir)
    return TrainApp(
        lambda feed: follow(launched.run_dir, feed, restore=feed.restore,
                            observe=remote.observe, alive=launched.alive),
        remote, trainer_stopped=lambda: trainer_stopped(launched.run_dir))


def logged(run_dir: Path, kind: type[ev.Event], **fields: Any) -> bool:
    return any(isinstance(e, kind) and all(getattr(e, k) == v for k, v in fields.items())
               for e in read_events(run_dir / EVENT_LOG))


async def until(pilot: Any, condition: Callable[[], object], what: str,
                limit: float = 120) -> None:
    """Let the app run until `condition()` holds (a generous limit, not a timing check)."""
    for _ in range(int(limit / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def header(app: TrainApp) -> str:
    return app.query_one(RunHeader).state


def notes(app: TrainApp) -> str:
    return " | ".join(str(n.message) for n in app._notifications)


@async_test
async def test_keys_reach_the_trainer_through_its_channel(tmp_path: Path,
                                                         processes: Processes) -> None:
    """p pauses and resumes, s saves, e finishes after the epoch: each confirmed by the
    trainer's own events and shown in the header."""
    launched = start(tmp_path, processes)
    run_dir = launched.run_dir
    app = view(launched)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: logged(run_dir, ev.Progress), "training")
        await until(pilot, lambda: header(app) == "running", "the header to say running")
        await pilot.press("p")
        await until(pilot, lambda: logged(run_dir, ev.Paused), "the trainer to pause")
        await until(pilot, lambda: header(app) == "paused", "the header to say paused")
        await pilot.press("s")
        await until(pilot, lambda: logged(run_dir, ev.CheckpointSaved, reason="requested"),
                    "the requested checkpoint")
        await pilot.press("p")
        await until(pilot, lambda: logged(run_dir, ev.Resumed), "the trainer to resume")
        await pilot.press("e")
        await until(pilot, lambda: logged(run_dir, ev.Finished), "the run to finish")
        await until(pilot, lambda: header(app) == "finished", "the header to say finished")
        assert logged(run_dir, ev.StopRequested, mode="epoch")
        assert app.outcome == 0 and "Request not sent" not in notes(app)


@async_test
async def test_a_stopped_trainer_is_called_stalled(tmp_path: Path, processes: Processes) -> None:
    """SIGSTOP on the trainer: the header says it is stopped; a key sent to it is not
    confirmed, and the view says so. SIGCONT: it runs on."""
    launched = start(tmp_path, processes)
    run_dir = launched.run_dir
    app = view(launched)
    app._pending.patience = 1.0
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: logged(run_dir, ev.Progress), "training")
        pid = lock_holder(run_dir)
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            await until(pilot, lambda: app.query_one(RunHeader)._shown_state() == "stalled",
                        "the header to say stalled")
            await pilot.press("s")
            await until(pilot, lambda: "has not confirmed the checkpoint" in notes(app),
                        "the view to say the request is unanswered")
        finally:
            os.kill(pid, signal.SIGCONT)
        await until(pilot, lambda: app.query_one(RunHeader)._shown_state() == "running",
                    "the header to say running again")


@async_test
async def test_keys_to_a_trainer_that_is_gone_say_so(tmp_path: Path,
                                                    processes: Processes) -> None:
    """kill -9 of the trainer: the view says the run was interrupted; a key pressed
    then says why nothing happens."""
    launched = start(tmp_path, processes)
    run_dir = launched.run_dir
    app = view(launched)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: logged(run_dir, ev.Progress), "training")
        launched.process.kill()
        await asyncio.to_thread(launched.process.wait)
        await until(pilot, lambda: header(app) == "failed", "the view to see it gone")
        await pilot.press("p")
        await until(pilot, lambda: "The run is over (failed): nothing to pause" in notes(app),
                    "the view to say the run is over")
        app.outcome = None  # as before the view noticed: the request itself fails
        await pilot.press("s")
        await until(pilot, lambda: "not training" in notes(app), "the error on screen")
