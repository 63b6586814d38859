"""Thread-safe requests into a running loop: pause, resume, stop, save now, a new LR.

Any thread (a UI, a signal handler, a watcher) calls the request methods; the training
loop polls `pending` at each step boundary (one attribute read) and handles requests
there. Pausing blocks the loop on a condition variable, so a paused run uses no CPU.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from .config import MAX_LR

STOP_AFTER_EPOCH = "epoch"
STOP_NOW = "now"
LR_SET = "set"
LR_SCALE = "scale"


def check_lr_request(mode: str, value: float) -> None:
    """ValueError unless `value` is a learning rate (LR_SET) or a factor (LR_SCALE) to use."""
    if mode not in (LR_SET, LR_SCALE):
        raise ValueError(f"unknown learning-rate change {mode!r}")
    if not (isinstance(value, int | float) and 0 < value < float("inf")):
        what = "learning rate" if mode == LR_SET else "factor"
        raise ValueError(f"the {what} must be a positive number, got {value}")
    if mode == LR_SET and value > MAX_LR:
        raise ValueError(f"the learning rate must be at most {MAX_LR:g}, got {value}")


def change_learning_rates(groups: list[dict[str, Any]], mode: str, value: float
                          ) -> list[float | None]:
    """Set each optimizer parameter group's `lr` to `value` (LR_SET) or multiply it by
    `value` (LR_SCALE), at most MAX_LR; return each group's new/old (None where the old
    one was 0)."""
    ratios: list[float | None] = []
    for group in groups:
        before = float(group["lr"])
        group["lr"] = min(value if mode == LR_SET else before * value, MAX_LR)
        ratios.append(group["lr"] / before if before > 0 else None)
    return ratios


def rescale_schedule(scheduler: Any, groups: list[dict[str, Any]],
                     ratios: list[float | None]) -> None:
    """Make a torch LR scheduler go on from learning rates changed by `ratios` (see
    `change_learning_rates`): every LR it sets from now on is the one it would have set,
    times the ratio (a plateau schedule lowers the new LR later, its patience counted
    afresh from the change)."""
    base = getattr(scheduler, "base_lrs", None)
    for index, (group, ratio) in enumerate(zip(groups, ratios, strict=True)):
        if ratio is None:
            continue
        for key in ("initial_lr", "max_lr", "min_lr"):  # LRScheduler's, and one-cycle's
            if key in group:
                group[key] *= ratio
        if base is not None:
            base[index] *= ratio
    if hasattr(scheduler, "_last_lr"):
        scheduler._last_lr = [group["lr"] for group in groups]
    if hasattr(scheduler, "num_bad_epochs"):  # plateau: the new rate gets its patience afresh
        scheduler.num_bad_epochs = 0


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

    def request_lr(self, value: float, mode: str = LR_SET) -> None:
        """Set the learning rate (LR_SET) or multiply it (LR_SCALE) at the next step boundary."""


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
        self._lr_request: tuple[str, float] | None = None
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

    def request_lr(self, value: float, mode: str = LR_SET) -> None:
        """Set every parameter group's learning rate to `value` (LR_SET) or multiply each by
        `value` (LR_SCALE) at the next step boundary, paused or not. Requests not yet taken
        combine: the latest set wins, and factors multiply onto what is pending."""
        check_lr_request(mode, value)
        with self._cond:
            pending = self._lr_request
            if mode == LR_SCALE and pending is not None:
                self._lr_request = (pending[0], pending[1] * value)
            else:
                self._lr_request = (mode, float(value))
            self._refresh_pending()
            self._cond.notify_all()

    def take_lr_request(self) -> tuple[str, float] | None:
        """Return and clear the pending learning-rate change: (LR_SET or LR_SCALE, value)."""
        with self._cond:
            request, self._lr_request = self._lr_request, None
            self._refresh_pending()
            return request

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
        does at once (save a checkpoint, change the learning rate, confirm a stop after the
        epoch); wakes only on requests."""
        with self._cond:
            while self._idle_paused():
                self._cond.wait(timeout)
            self._refresh_pending()

    def wait_for_request(self, timeout: float) -> None:
        """As `wait_while_paused`, but for `timeout` seconds at most."""
        with self._cond:
            if self._idle_paused():
                self._cond.wait(timeout)
            self._refresh_pending()

    def _idle_paused(self) -> bool:
        return (self._paused and self._stop_mode != STOP_NOW and not self._save_requested
                and self._lr_request is None and not self._new_stop())

    def _new_stop(self) -> bool:
        return self._stop_mode is not None and self._stop_mode != self._stop_announced

    def _refresh_pending(self) -> None:
        self.pending = (self._paused or self._save_requested or self._lr_request is not None
                        or self._new_stop())
