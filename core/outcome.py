"""How a run can end, and the exit status each ending gives: one place for both.

Every module that decides, records or reports an ending imports these; the strings are
the values written to events.jsonl and metrics.json, so they never change spelling.
"""

from __future__ import annotations

import signal
from enum import IntEnum, StrEnum


class StopCause(StrEnum):
    """Why the epoch loop ended."""

    COMPLETED = "completed"
    EARLY_STOPPING = "early_stopping"
    USER = "user"
    NON_FINITE_LOSS = "non_finite_loss"

    @property
    def succeeded(self) -> bool:
        """False only for an ending that left the run without trustworthy weights."""
        return self is not StopCause.NON_FINITE_LOSS


class RunState(StrEnum):
    """What a run directory's run is doing, or how it ended (`trainui runs`)."""

    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class ExitCode(IntEnum):
    """The exit statuses of every trainui command."""

    OK = 0
    FAILED = 1
    USAGE = 2
    INTERRUPTED = 128 + signal.SIGINT
    TERMINATED = 128 + signal.SIGTERM


def state_of_ending(cause: str) -> RunState:
    """The state of a run whose last session ended with `cause` (a Finished event)."""
    if cause == StopCause.COMPLETED:
        return RunState.FINISHED
    if cause == StopCause.NON_FINITE_LOSS:
        return RunState.FAILED
    return RunState.STOPPED


def exit_code_of(event: object) -> ExitCode | None:
    """The exit status a run's ending event stands for (Finished, Failed), else None."""
    from .events import Failed, Finished  # here: events are plain data, imported lazily

    if isinstance(event, Finished):
        return exit_code(event.cause)
    if isinstance(event, Failed):
        return ExitCode(event.exit_code) if event.exit_code in set(ExitCode) else ExitCode.FAILED
    return None


def exit_code(cause: str | None, *, signal_number: int | None = None) -> ExitCode:
    """The exit status of a training process: the signal that stopped it wins, then the cause.

    `cause` is None when the run failed before or during training (a Failed event).
    """
    if signal_number == signal.SIGINT:
        return ExitCode.INTERRUPTED
    if signal_number == signal.SIGTERM:
        return ExitCode.TERMINATED
    if cause is None or not StopCause(cause).succeeded:
        return ExitCode.FAILED
    return ExitCode.OK
