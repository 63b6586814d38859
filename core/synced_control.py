"""Control and throttling for a job of several processes: every rank acts at the same step.

The recording rank's `Control` takes requests (its control channel, its signals); no rank's
loop reads it. At each throttle point every rank calls `SyncedControl.sync`, which shares
the recording rank's requests with all of them, so each rank's loop sees the same requests
at the same step boundary. The throttle points themselves fall on steps the ranks agree on
at the previous point, from the recording rank's pace: nothing is exchanged in between.
"""

from __future__ import annotations

import signal
import time

import torch
import torch.distributed as dist

from .control import LR_SCALE, LR_SET, STOP_AFTER_EPOCH, STOP_NOW, Control
from .distributed import World

PAUSED_HEARTBEAT_S = 1.0
"""While paused, the ranks meet this often (a collective waits at most its timeout)."""
MAX_STEPS_BETWEEN_POINTS = 100_000
STOP_MODES = (None, STOP_AFTER_EPOCH, STOP_NOW)
LR_MODES = (None, LR_SET, LR_SCALE)
STOP_SOURCES = ("user", "view", "watcher", *(s.name for s in (signal.SIGINT, signal.SIGTERM)))
"""Who asks for a stop, as a number in the shared state (any other source: "user")."""


class SyncedControl(Control):
    """The loop's Control on each rank of a job; it changes only in `sync`."""

    def __init__(self, world: World, source: Control | None) -> None:
        super().__init__()
        self.world = world
        self.source = source if world.records else None

    def sync(self, proposal: int = 1) -> int:
        """Share the recording rank's new requests and `proposal` (the steps to the next
        throttle point) with every rank (one small broadcast); apply the requests here;
        return the agreed steps."""
        state = self._take(proposal)
        dist.broadcast(state, src=self.world.recorder)
        self._apply(state.tolist())
        return int(state[0])

    def wait_while_paused(self, timeout: float = PAUSED_HEARTBEAT_S) -> None:
        """Wait for the recording rank's next request (or heartbeat), then sync."""
        if self.source is not None:
            self.source.wait_for_request(timeout)
        self.sync()

    def _take(self, proposal: int) -> torch.Tensor:
        """[due, paused, stop mode, stop source, save, LR mode, LR value]: the recording
        rank's requests taken; zeros elsewhere (the broadcast fills them in)."""
        state = torch.zeros(7, dtype=torch.float64)
        source = self.source
        if source is None:
            return state
        stop = source.take_new_stop()
        lr = source.take_lr_request()
        state[:] = torch.tensor([
            proposal, source.paused, STOP_MODES.index(stop[0] if stop else None),
            STOP_SOURCES.index(stop[1]) if stop and stop[1] in STOP_SOURCES else 0,
            source.take_save_request(), LR_MODES.index(lr[0] if lr else None),
            lr[1] if lr else 0.0], dtype=torch.float64)
        return state

    def _apply(self, state: list[float]) -> None:
        _, paused, stop, stop_source, save, lr_mode, lr_value = state
        if bool(paused) != self.paused:
            self.pause() if paused else self.resume()
        if stop:
            self.request_stop(str(STOP_MODES[int(stop)]), STOP_SOURCES[int(stop_source)])
        if save:
            self.request_save()
        if lr_mode:
            self.request_lr(lr_value, str(LR_MODES[int(lr_mode)]))


class AgreedThrottle:
    """The throttle on each rank: ready at the steps the ranks agreed on, about every
    `interval` seconds by the recording rank's clock; each point syncs control. It goes
    on from one epoch to the next (the pace it learnt kept)."""

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
