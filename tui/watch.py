"""`trainui watch`: follow a run's events.jsonl and control it through its channel."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from trainui.core.console import ConsoleSink
from trainui.core.control_channel import RemoteControl
from trainui.core.event_file import EVENT_LOG, EventLogReader
from trainui.core.events import Event, Failed, Finished, RunStarted, Sink
from trainui.core.outcome import ExitCode
from trainui.core.run_dir import is_locked

POLL_SECONDS = 0.25


def follow(run_dir: Path, sink: Sink, observe: Callable[[Event], None] = lambda e: None,
           poll: float = POLL_SECONDS) -> None:
    """Feed every event of the run to `sink`, old ones first, until it ends.

    A run whose trainer is gone without a final event ends with a Failed event that says
    how to continue it.
    """
    reader = EventLogReader(run_dir / EVENT_LOG)
    ended = False
    while True:
        events = reader.read_new()
        if not events and not is_locked(run_dir):
            events = reader.read_new()  # whatever it wrote just before it went away
            if not ended and not _ends(events, ended):
                events.append(Failed(message=(
                    f"run interrupted: no process is training it (continue with "
                    f"`trainui train --resume {run_dir}`)")))
        for event in events:
            observe(event)
            sink(event)
        ended = _ends(events, ended)
        if ended:
            return
        time.sleep(poll)


def _ends(events: list[Event], ended: bool) -> bool:
    """Whether the latest session has ended after these events (a resume starts anew)."""
    for event in events:
        if isinstance(event, RunStarted):
            ended = False
        elif isinstance(event, Finished | Failed):
            ended = True
    return ended


def watch_run(run_dir: Path, *, theme: str, refresh_rate: float) -> int:
    """The TUI on another process's run; its keys reach that process."""
    from trainui.tui.app import run_app

    remote = RemoteControl(run_dir)
    code, _ = run_app(lambda sink: follow(run_dir, sink, remote.observe), remote,
                      theme=theme, refresh_rate=refresh_rate, watching=True)
    return code


def watch_headless(run_dir: Path) -> int:
    """Print the run's events as log lines until it ends (stdout is not a terminal)."""
    follow(run_dir, ConsoleSink(heartbeat=float("inf"), failures=True))
    return ExitCode.OK
