"""Messages from the training thread to the app (posted with the thread-safe post_message)."""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.message import Message

from trainui.core.events import Event, Progress
from trainui.core.run_summary import RunSummary


@dataclass
class TrainingEvent(Message):
    """A core event arrived from the training thread."""

    event: Event


@dataclass
class TrainingProgress(Message):
    """Step progress arrived; a newer one supersedes a queued one, keeping its step losses."""

    event: Progress
    step_losses: list[list[float]]
    lr_points: list[tuple[float, float]] = field(default_factory=list)
    """(global_step, lr) of this progress and of every one it replaced."""

    def can_replace(self, message: Message) -> bool:
        """Let the newer progress replace this one once it has taken our step losses."""
        if not isinstance(message, TrainingProgress):
            return False
        # Only the app thread reads queued messages, so extending the newer one is safe;
        # without this the per-step loss chart (and the LR history) would get gaps, and
        # depend on timing, when the UI falls behind.
        message.step_losses[:0] = self.step_losses
        message.lr_points[:0] = self.lr_points
        return True


@dataclass
class SummaryRestored(Message):
    """What happened in the run before the view opened (a watched or resumed run)."""

    summary: RunSummary


@dataclass
class JobEnded(Message):
    """The training job returned; error is one line when it raised instead."""

    error: str | None


def event_message(event: Event) -> Message:
    """Wrap a core event in the message the app receives for it."""
    if isinstance(event, Progress):
        lr: list[tuple[float, float]] = ([] if event.lr is None
                                          else [(float(event.global_step), event.lr)])
        return TrainingProgress(event, list(event.step_losses), lr)
    return TrainingEvent(event)
