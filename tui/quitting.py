"""What q and Ctrl+C do, decided from the view's state alone (pure functions)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto

from trainui.core.outcome import ExitCode


class QuitAction(Enum):
    """What the view does about a quit key."""

    EXIT = auto()
    """Close the view now."""
    ASK = auto()
    """Ask whether to stop and save the training, or carry on."""
    ALREADY_STOPPING = auto()
    """Say it is stopping and will quit once saved."""
    STOP_THEN_EXIT = auto()
    """Stop gracefully (save, evaluate), then close the view."""


@dataclass(frozen=True)
class ViewState:
    """The facts the decisions depend on."""

    training: bool
    """The view is showing a training it owns, which has not ended."""
    stopping: bool
    """A stop-and-quit is already under way."""


def on_quit_key(state: ViewState) -> QuitAction:
    """q: leave a watched or ended run at once; otherwise ask before stopping training."""
    if not state.training:
        return QuitAction.EXIT
    return QuitAction.ALREADY_STOPPING if state.stopping else QuitAction.ASK


def on_interrupt(state: ViewState) -> QuitAction:
    """Ctrl+C: the first stops the training gracefully, a second closes the view at once."""
    if not state.training or state.stopping:
        return QuitAction.EXIT
    return QuitAction.STOP_THEN_EXIT


def view_exit_code(outcome: ExitCode | None, interrupted_with: ExitCode | None) -> ExitCode:
    """The view's exit status: the signal that stopped it, else the run's outcome."""
    if interrupted_with is not None:
        return interrupted_with
    return ExitCode.OK if outcome is None else outcome
