"""Requests the view sent to the trainer, and whether the trainer confirmed them in time.

A key must never fail silently: a request that cannot reach the trainer raises at once;
one that reaches it is confirmed by an event (Paused, Resumed, the requested checkpoint,
StopRequested). One left unconfirmed for `patience` seconds is reported, once.
"""

from __future__ import annotations

from trainui.core import events as ev

ANSWERS: dict[str, type[ev.Event]] = {
    "pause": ev.Paused,
    "resume": ev.Resumed,
    "save": ev.CheckpointSaved,
    "stop": ev.StopRequested,
    "lr": ev.LRChanged,
}
WORDS = {"pause": "the pause", "resume": "resuming", "save": "the checkpoint",
         "stop": "the stop", "lr": "the learning rate"}


class PendingRequests:
    """Requests waiting for the trainer's answer."""

    def __init__(self, patience: float = 5.0) -> None:
        self.patience = patience
        self._sent: dict[str, float] = {}

    def sent(self, request: str, now: float) -> None:
        """A request went out at `now` (monotonic seconds)."""
        self._sent.setdefault(request, now)
        if request in ("pause", "resume"):
            self._sent.pop("resume" if request == "pause" else "pause", None)

    def heard(self, event: ev.Event) -> None:
        """An event arrived; it may answer a request."""
        for request, answer in ANSWERS.items():
            if isinstance(event, answer) and not (
                    isinstance(event, ev.CheckpointSaved) and event.reason != "requested") and not (
                    isinstance(event, ev.LRChanged) and event.scheduler != ev.USER_LR_CHANGE):
                self._sent.pop(request, None)
        if isinstance(event, ev.Finished | ev.Failed):
            self._sent.clear()  # the run is over: nothing more will answer

    def overdue(self, now: float, trainer_stopped: bool = False) -> list[str]:
        """What to tell the user about requests unanswered for too long (each once)."""
        late = [request for request, at in self._sent.items() if now - at >= self.patience]
        for request in late:
            del self._sent[request]
        why = ("the trainer process is stopped (SIGSTOP?): it acts once it continues"
               if trainer_stopped else
               "it acts at the next step boundary; a slow step takes a while")
        return [f"The trainer has not confirmed {WORDS[request]} after {self.patience:.0f}s "
                f"({why})" for request in late]
