"""`trainui watch`: follow a run's summary and events.jsonl; control it through its channel."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

from trainui.core.console import ConsoleSink
from trainui.core.control_channel import RemoteControl
from trainui.core.event_file import EVENT_LOG, EventLogReader
from trainui.core.events import Event, Failed, Finished, RunStarted, Sink, StageStarted
from trainui.core.hardware import HardwareSampler
from trainui.core.outcome import ExitCode
from trainui.core.run_dir import interrupted_message, is_locked, trainer_stopped
from trainui.core.run_summary import RunSummary, load_summary

POLL_SECONDS = 0.25


def follow(run_dir: Path, sink: Sink, *, restore: Callable[[RunSummary], None] | None = None,
           observe: Callable[[Event], None] = lambda e: None,
           alive: Callable[[], bool] | None = None, new_session: float | None = None,
           keep_watching: bool = False, poll: float = POLL_SECONDS) -> None:
    """Feed a run to a view: first what happened so far (the summary, to `restore`, or as
    replayed events to `sink`), then every new event, until the current session ends.

    `new_session`: when a trainer was just started on the run, so an ending already in the
    log belongs to an earlier session and does not end the following (and until a session
    starts after that time, the view shows the trainer starting). `keep_watching`: after
    an ending, go on following (slowly) for as long as the caller lives, so a view left
    open on a finished run shows it when it is resumed. A run whose trainer is gone
    (`alive`, by default: someone holds the run's lock) without a final event ends with a
    Failed event that says how to continue it.
    """
    trainer_alive = alive or (lambda: is_locked(run_dir))
    summary = load_summary(run_dir, keep=True)
    started = summary.started
    if new_session is not None and (started is None or started.time < new_session):
        summary.add(StageStarted(stage="the trainer is starting"))
    for event in summary.replay():
        observe(event)
        if restore is None:
            sink(event)
    if restore is not None:
        restore(summary)
    ended = summary.ending() is not None
    reader = EventLogReader(run_dir / EVENT_LOG, offset=summary.events_offset)
    while keep_watching or not ended:
        events = reader.read_new()
        if not events and not ended and not trainer_alive():
            events = reader.read_new()  # whatever it wrote just before it went away
            if not _ends(events, ended):
                events.append(Failed(message=interrupted_message(run_dir)))
        for event in events:
            observe(event)
            sink(event)
        ended = _ends(events, ended)
        if keep_watching or not ended:
            time.sleep(poll * 4 if ended else poll)


def _ends(events: list[Event], ended: bool) -> bool:
    """Whether the latest session has ended after these events (a new one starts anew)."""
    for event in events:
        if isinstance(event, RunStarted | StageStarted):
            ended = False
        elif isinstance(event, Finished | Failed):
            ended = True
    return ended


def watch_run(run_dir: Path, *, theme: str, refresh_rate: float) -> int:
    """The TUI on another process's run; its keys reach that process."""
    from trainui.tui.app import run_app
    from trainui.tui.terminal import exit_on_signals

    exit_on_signals({signal.SIGHUP: ExitCode.OK, signal.SIGTERM: ExitCode.TERMINATED})
    remote = RemoteControl(run_dir)
    code, _, _ = run_app(lambda feed: follow(run_dir, feed, restore=feed.restore,
                                          observe=remote.observe, keep_watching=True),
                      remote, theme=theme, refresh_rate=refresh_rate, watching=True,
                      trainer_stopped=lambda: trainer_stopped(run_dir), exit_promptly=True,
                      run_name=run_dir.name, output_log=run_dir / "output.log",
                      hardware=HardwareSampler.for_run(run_dir))
    return code


def watch_headless(run_dir: Path) -> int:
    """Print the run's recent log lines, then new ones until it ends (no terminal); exit
    with the run's outcome (1 if it failed)."""
    from trainui.core.outcome import exit_code_of

    console = ConsoleSink(heartbeat=float("inf"), failures=True)
    outcome: list[ExitCode] = []

    def restore(summary: RunSummary) -> None:
        for event in summary.log:
            console(event)

    def observe(event: Event) -> None:
        ending = exit_code_of(event)
        if ending is not None:
            outcome[:] = [ending]
        elif isinstance(event, RunStarted | StageStarted):
            outcome.clear()

    follow(run_dir, console, restore=restore, observe=observe)
    return outcome[0] if outcome else ExitCode.OK
