"""`trainui control`: send one request to a live run and wait until its trainer acknowledges it.

The request goes through the run's control channel (`RemoteControl`, the same requests the
live view and `trainui watch` send); the trainer answers with an event in events.jsonl
(Paused, Resumed, CheckpointSaved with reason "requested", StopRequested). The log is
followed from the end the run's summary covers, taken before anything is sent, so an
acknowledgment written at once is never missed.

Each action is an `Action`: what it sends, which event acknowledges it, and the line that
says so. An action that carries a value (a new learning rate, say) takes it as the second
argument of `send`; the command line passes None for the actions here.
"""

from __future__ import annotations

import contextlib
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .control import LR_SCALE, LR_SET, STOP_AFTER_EPOCH, STOP_NOW, check_lr_request
from .control_channel import CHANNEL, RemoteControl
from .errors import TrainuiError, one_line
from .event_file import EVENT_LOG, EventLogReader
from .events import (
    USER_LR_CHANGE,
    CheckpointSaved,
    Event,
    Failed,
    Finished,
    LRChanged,
    Paused,
    Resumed,
    StopRequested,
)
from .outcome import RunState
from .run_dir import check_run_dir, is_locked, is_script_run, lock_holder, trainer_stopped
from .run_summary import RunSummary, load_summary

POLL_S = 0.05
"""Seconds between looks at the event log while waiting."""
ENDED = (RunState.FINISHED, RunState.STOPPED, RunState.FAILED, RunState.INTERRUPTED)


class ControlFailed(Exception):
    """The run is not training, or did not acknowledge the request: one line, exit 1."""


@dataclass(frozen=True)
class Context:
    """What the lines printed for an action say about the run."""

    run: str
    """The run directory, as the user named it."""
    epochs: int | None
    paused: bool
    """Whether the run is paused as the request is acknowledged."""

    def at(self, epoch: int, step: int) -> str:
        """`epoch 3/20, step 512` (the epoch in progress, 1-based)."""
        of = f"/{self.epochs}" if self.epochs else ""
        return f"epoch {epoch}{of}, step {step}"


@dataclass(frozen=True)
class Action:
    """One `trainui control` action."""

    name: str
    send: Callable[[RemoteControl, Any], None]
    acknowledged: Callable[[Event], bool]
    says: Callable[[Context, Any], str]
    """The line printed once `acknowledged` accepted the event."""
    already: Callable[[RunSummary, RunState, Context], str | None] = lambda *_: None
    """The line to print instead of sending, when the run already is as asked."""
    send_anyway: bool = False
    """Send the request even then, without waiting (a resume cancels a pause asked for
    and not yet taken)."""
    takes_value: bool = False
    """The action needs a VALUE (a learning rate, a factor); the others take none."""


def _send_stop(remote: RemoteControl, _value: Any) -> None:
    """Save, then stop at the next step boundary: what Ctrl+C and the live view's stop do."""
    remote.request_save()
    remote.request_stop(STOP_NOW)


def _already_paused(summary: RunSummary, state: RunState, ctx: Context) -> str | None:
    if state is not RunState.PAUSED:
        return None
    paused = summary.latest.get("paused")
    where = f" at {ctx.at(paused.epoch, paused.global_step)}" if isinstance(paused, Paused) else ""
    return f"{ctx.run} is already paused{where}"


def _not_paused(_summary: RunSummary, state: RunState, ctx: Context) -> str | None:
    return None if state is RunState.PAUSED else f"{ctx.run} is not paused ({state})"


def _already_stopping(mode: str | None) -> Callable[[RunSummary, RunState, Context], str | None]:
    """Says so when a stop (of `mode`, or any mode for None) was asked for this session."""

    def already(summary: RunSummary, _state: RunState, ctx: Context) -> str | None:
        asked = summary.latest.get("stop_requested")
        if not isinstance(asked, StopRequested) or mode not in (None, asked.mode):
            return None
        return f"{ctx.run} is already stopping ({_stop_words(asked, ctx)})"

    return already


def _stop_words(event: StopRequested, ctx: Context) -> str:
    if event.mode == STOP_NOW:
        return f"now, at {ctx.at(event.epoch, event.global_step)}"
    of = f"/{ctx.epochs}" if ctx.epochs else ""
    return f"after epoch {event.epoch}{of}"


def _stopping(ctx: Context, event: StopRequested) -> str:
    line = f"{ctx.run} stops {_stop_words(event, ctx)}"
    if event.mode == STOP_AFTER_EPOCH and ctx.paused:
        line += " (it is paused: resume it to finish the epoch)"
    return line


def _user_lr_change(event: Event) -> bool:
    return isinstance(event, LRChanged) and event.scheduler == USER_LR_CHANGE


def _lr_changed(ctx: Context, event: LRChanged) -> str:
    at = ctx.at(event.epoch + 1, event.global_step)
    if event.new_lr == event.old_lr:
        return f"learning rate of {ctx.run}: already {event.new_lr:.6g}, unchanged at {at}"
    return f"learning rate of {ctx.run}: {event.old_lr:.6g} -> {event.new_lr:.6g} at {at}"


ACTIONS: dict[str, Action] = {action.name: action for action in (
    Action("pause", lambda remote, _: remote.pause(), lambda e: isinstance(e, Paused),
           lambda ctx, e: f"paused {ctx.run} at {ctx.at(e.epoch, e.global_step)}",
           already=_already_paused),
    Action("resume", lambda remote, _: remote.resume(), lambda e: isinstance(e, Resumed),
           lambda ctx, e: (f"resumed {ctx.run} at {ctx.at(e.epoch, e.global_step)} "
                           f"(paused {e.paused_seconds:.1f} s)"),
           already=_not_paused, send_anyway=True),
    Action("save", lambda remote, _: remote.request_save(),
           lambda e: isinstance(e, CheckpointSaved) and e.reason == "requested",
           lambda ctx, e: f"saved {ctx.run} at step {e.global_step}: {e.path}"),
    Action("stop", _send_stop, lambda e: isinstance(e, StopRequested) and e.mode == STOP_NOW,
           _stopping, already=_already_stopping(STOP_NOW)),
    Action("stop-after-epoch", lambda remote, _: remote.request_stop(STOP_AFTER_EPOCH),
           lambda e: isinstance(e, StopRequested), _stopping,
           already=_already_stopping(None)),
    Action("set-lr", lambda remote, value: remote.request_lr(value, LR_SET), _user_lr_change,
           _lr_changed, takes_value=True),
    Action("scale-lr", lambda remote, value: remote.request_lr(value, LR_SCALE),
           _user_lr_change, _lr_changed, takes_value=True),
)}
"""Every action `trainui control` takes (its help text is in tui/cli.py)."""


def control_run(run_dir: Path, name: str, *, timeout: float, value: Any = None,
                poll: float = POLL_S) -> str:
    """Send action `name` to the process training `run_dir` and wait up to `timeout`
    seconds for its acknowledgment; return the line that says what happened.

    TrainuiError: `run_dir` is not a run (bad input). ControlFailed: the run is not
    training, or its trainer did not acknowledge the request in time.
    """
    action = ACTIONS[name]
    if action.takes_value and value is None:
        raise TrainuiError(f"{name} needs a VALUE: trainui control RUN_DIR {name} VALUE")
    if not action.takes_value and value is not None:
        raise TrainuiError(f"{name} takes no value, got {value:g}")
    if action.takes_value:
        try:
            check_lr_request(LR_SET if name == "set-lr" else LR_SCALE, value)
        except ValueError as exc:
            raise TrainuiError(f"{name}: {exc}") from None
    check_run_dir(run_dir, "control")
    deadline = time.monotonic() + timeout
    alive = is_locked(run_dir)  # before the summary: a run that ends meanwhile is "ended"
    summary = load_summary(run_dir, brief=True)
    state = summary.state(alive)
    if state in ENDED:
        raise ControlFailed(f"run {run_dir} is not training ({state})")
    started = summary.started
    ctx = Context(str(run_dir), started.epochs if started else None,
                  state is RunState.PAUSED)
    already = action.already(summary, state, ctx)
    if already is not None:
        if action.send_anyway and _is_fifo(run_dir / CHANNEL):
            with contextlib.suppress(TrainuiError):  # (a courtesy: nothing waits on it)
                action.send(RemoteControl(run_dir), value)
        return already
    _wait_for_channel(run_dir, state, deadline, poll)
    reader = EventLogReader(run_dir / EVENT_LOG, offset=summary.events_offset)
    remote = RemoteControl(run_dir)
    remote.paused = ctx.paused
    _send(action, remote, value, run_dir)
    event = _acknowledgment(action, reader, remote, run_dir, deadline, poll)
    if event is None:
        raise ControlFailed(_timeout_line(action, run_dir, state, timeout))
    return action.says(Context(ctx.run, ctx.epochs, remote.paused), event)


def _wait_for_channel(run_dir: Path, state: RunState, deadline: float, poll: float) -> None:
    """Return once the run's control channel exists; a trainer still setting up opens it
    soon, one that trains without it never will."""
    path = run_dir / CHANNEL
    while not _is_fifo(path):
        if not is_locked(run_dir):
            raise ControlFailed(f"run {run_dir} is not training (its trainer ended)")
        if state is not RunState.STARTING:
            raise ControlFailed(f"run {run_dir} takes no requests: it has no control channel "
                                "(trained with trainui.init(steerable=False), or on a file "
                                "system without FIFOs)")
        if time.monotonic() >= deadline:
            raise ControlFailed(f"run {run_dir} is still setting up: its trainer opened no "
                                "control channel in time (try again, or a longer --timeout)")
        time.sleep(poll)


def _is_fifo(path: Path) -> bool:
    try:
        return stat.S_ISFIFO(path.lstat().st_mode)
    except OSError:
        return False


def _send(action: Action, remote: RemoteControl, value: Any, run_dir: Path) -> None:
    """Send the action's requests; one that cannot reach the trainer is a ControlFailed."""
    try:
        action.send(remote, value)
    except TrainuiError as exc:
        if not is_locked(run_dir):
            raise ControlFailed(f"run {run_dir} is not training (its trainer ended)") from None
        raise ControlFailed(f"cannot send {action.name}: {one_line(exc)}") from None


def _acknowledgment(action: Action, reader: EventLogReader, remote: RemoteControl,
                    run_dir: Path, deadline: float, poll: float) -> Event | None:
    """The event acknowledging the request, or None once `deadline` passed.

    ControlFailed when the run ends, or its trainer goes away, before acknowledging."""
    while True:
        events = reader.read_new()
        if not events and not is_locked(run_dir):
            events = reader.read_new()  # whatever it wrote just before it went away
            if not events:
                raise ControlFailed(f"the trainer of run {run_dir} ended without "
                                    f"acknowledging {action.name}")
        for event in events:
            remote.observe(event)
            if action.acknowledged(event):
                return event
            if isinstance(event, Finished | Failed):
                raise ControlFailed(f"run {run_dir} ended before acknowledging "
                                    f"{action.name}: {_ending(event)}")
        if time.monotonic() >= deadline:
            return None
        time.sleep(poll)


def _ending(event: Finished | Failed) -> str:
    return event.reason if isinstance(event, Finished) else one_line(event.message, 200)


def _timeout_line(action: Action, run_dir: Path, state: RunState, timeout: float) -> str:
    """Says the request went unacknowledged, and the likely reason."""
    line = f"run {run_dir} did not acknowledge {action.name} within {timeout:g} s"
    pid = lock_holder(run_dir)
    if trainer_stopped(run_dir):
        why = (f"its process, pid {pid}, is stopped by SIGSTOP or a debugger; "
               f"`kill -CONT {pid}` lets it go on")
    elif action.name == "save" and is_script_run(run_dir):
        why = ("a script saves on request only with trainui.init(save=...) or by "
               "answering run.save_requested")
    elif action.takes_value and is_script_run(run_dir):
        why = "a script takes a new learning rate only with trainui.init(optimizer=...)"
    elif state is RunState.STARTING:
        why = "it is still setting up"
    else:
        why = "requests are taken between training steps: is one step that long?"
    return f"{line} ({why}); the request was sent and may still be taken"
