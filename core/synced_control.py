"""Control and throttling for a job of several processes: every rank acts at the same step.

The recording rank's `Control` takes requests (its control channel, its signals); no rank's
loop reads it. At each throttle point every rank calls `SyncedControl.sync`, which shares
the recording rank's requests with all of them, so each rank's loop sees the same requests
at the same step boundary. The throttle points themselves fall on steps the ranks agree on
at the previous point, from the recording rank's pace: nothing is exchanged in between.
"""

from __future__ import annotations

import time
from typing import Any

from .control import Control
from .distributed import World, share

PAUSED_HEARTBEAT_S = 1.0
"""While paused, the ranks meet this often (a collective waits at most its timeout)."""
MAX_STEPS_BETWEEN_POINTS = 100_000


class SyncedControl(Control):
    """The loop's Control on each rank of a job; it changes only in `sync`."""

    def __init__(self, world: World, source: Control | None) -> None:
        super().__init__()
        self.world = world
        self.source = source if world.records else None

    def sync(self, proposal: int = 1) -> int:
        """Share the recording rank's new requests and `proposal` (the steps to the next
        throttle point) with every rank; apply the requests here; return the agreed steps."""
        state = share(self._take(proposal), self.world)
        self._apply(state)
        return int(state["due"])

    def wait_while_paused(self, timeout: float = PAUSED_HEARTBEAT_S) -> None:
        """Wait for the recording rank's next request (or heartbeat), then sync."""
        if self.source is not None:
            self.source.wait_for_request(timeout)
        self.sync()

    def _take(self, proposal: int) -> dict[str, Any] | None:
        source = self.source
        if source is None:
            return None
        return {"due": proposal, "paused": source.paused, "stop": source.take_new_stop(),
                "save": source.take_save_request(), "lr": source.take_lr_request()}

    def _apply(self, state: dict[str, Any]) -> None:
        if state["paused"] != self.paused:
            self.pause() if state["paused"] else self.resume()
        if state["stop"] is not None:
            self.request_stop(*state["stop"])
        if state["save"]:
            self.request_save()
        if state["lr"] is not None:
            mode, value = state["lr"]
            self.request_lr(value, mode)


class AgreedThrottle:
    """The throttle of one epoch on each rank: ready at the steps the ranks agreed on,
    about every `interval` seconds by the recording rank's clock; each point syncs control."""

    def __init__(self, interval: float, control: SyncedControl) -> None:
        self.interval = interval
        self.control = control
        self._due = 1  # the first point after one step measures the pace
        self._steps = 0
        self._since = time.monotonic()

    def ready(self) -> bool:
        """True at an agreed throttle point (after syncing control); otherwise False."""
        self._steps += 1
        if self._steps < self._due:
            return False
        now = time.monotonic()
        per_step = (now - self._since) / self._steps
        proposal = round(self.interval / per_step) if per_step > 0 else MAX_STEPS_BETWEEN_POINTS
        self._due = self.control.sync(min(max(proposal, 1), MAX_STEPS_BETWEEN_POINTS))
        self._steps, self._since = 0, now
        return True
