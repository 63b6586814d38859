"""Thread-safe requests into a running loop: pause, resume, stop, save now.

Any thread (a UI, a signal handler, a watcher) calls the request methods; the training
loop polls `pending` at each step boundary (one attribute read) and handles requests
there. Pausing blocks the loop on a condition variable, so a paused run uses no CPU.
"""

from __future__ import annotations

import threading
from typing import Protocol

STOP_AFTER_EPOCH = "epoch"
STOP_NOW = "now"


class Controller(Protocol):
    """What a view calls to steer a run: `Control` in the trainer's own process, or
    `RemoteControl`, which sends the same requests through a run's control channel."""

    @property
    def paused(self) -> bool:
        """Whether the run is (asked to be) paused."""

    def toggle_pause(self) -> bool:
        """Pause if running, resume if paused; return the new paused state."""

    def request_save(self) -> None:
        """Ask for a checkpoint at the next step boundary."""

    def request_stop(self, mode: str = STOP_AFTER_EPOCH, source: str = "user") -> None:
        """Stop after the current epoch or at the next step boundary."""


class Control:
    """Requests for the training loop, safe to call from any thread or signal handler."""

    def __init__(self) -> None:
        # Re-entrant: a signal handler may run on the loop's own thread while it holds it.
        self._cond = threading.Condition(threading.RLock())
        self._paused = False
        self._stop_mode: str | None = None
        self._stop_source = "user"
        self._stop_announced: str | None = None
        self._save_requested = False
        self.pending = False
        """True when any request awaits the loop: the cheap check made every step."""

    @property
    def paused(self) -> bool:
        """Whether a pause is requested (and not yet resumed)."""
        return self._paused

    @property
    def stop_mode(self) -> str | None:
        """None, STOP_AFTER_EPOCH or STOP_NOW."""
        return self._stop_mode

    def pause(self) -> None:
        """Ask the loop to pause at the next step boundary."""
        self._change(paused=True)

    def resume(self) -> None:
        """Let a paused loop continue."""
        self._change(paused=False)

    def toggle_pause(self) -> bool:
        """Pause if running, resume if paused; return the new paused state."""
        with self._cond:
            if self._paused:
                self.resume()
            else:
                self.pause()
            return self._paused

    def request_stop(self, mode: str = STOP_AFTER_EPOCH, source: str = "user") -> None:
        """Stop after the current epoch (`"epoch"`) or at the next step boundary (`"now"`).

        A later "now" upgrades an earlier "epoch"; stopping also ends a pause.
        """
        if mode not in (STOP_AFTER_EPOCH, STOP_NOW):
            raise ValueError(f"unknown stop mode {mode!r}")
        with self._cond:
            if self._stop_mode != STOP_NOW:
                self._stop_mode = mode
                self._stop_source = source
            self.pending = True
            self._cond.notify_all()

    def request_save(self) -> None:
        """Ask for a checkpoint at the next step boundary."""
        self._change(save_requested=True)

    def _change(self, *, paused: bool | None = None, save_requested: bool | None = None) -> None:
        with self._cond:
            if paused is not None:
                self._paused = paused
            if save_requested is not None:
                self._save_requested = save_requested
            self._refresh_pending()
            self._cond.notify_all()

    def take_save_request(self) -> bool:
        """Return and clear the save-now request."""
        with self._cond:
            requested, self._save_requested = self._save_requested, False
            self._refresh_pending()
            return requested

    def take_new_stop(self) -> tuple[str, str] | None:
        """Return (mode, source) of a stop request not yet announced, once per mode."""
        with self._cond:
            if self._stop_mode is None or self._stop_mode == self._stop_announced:
                return None
            self._stop_announced = self._stop_mode
            self._refresh_pending()
            return self._stop_mode, self._stop_source

    def wait_while_paused(self, timeout: float = 1.0) -> None:
        """Block until resumed, asked to stop now, or asked for something a paused loop
        does at once (save a checkpoint, confirm a stop after the epoch); wakes only on
        requests."""
        with self._cond:
            while (self._paused and self._stop_mode != STOP_NOW and not self._save_requested
                   and not self._new_stop()):
                self._cond.wait(timeout)
            self._refresh_pending()

    def _new_stop(self) -> bool:
        return self._stop_mode is not None and self._stop_mode != self._stop_announced

    def _refresh_pending(self) -> None:
        self.pending = self._paused or self._save_requested or self._new_stop()
