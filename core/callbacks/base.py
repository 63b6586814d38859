"""The callback base class: hooks that do nothing until a subclass overrides them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from ..loop import Loop


class Callback:
    """Reacts to points of the training loop; its state goes into checkpoints.

    Hooks run on the training thread. `on_train_step_end` runs every step: keep it cheap
    and never read a tensor's value there (that would force a device sync).
    """

    order: ClassVar[int] = 50
    """Lower runs first at each hook; checkpointing runs last so it saves everyone's state."""

    @property
    def runs_every_step(self) -> bool:
        """Whether `on_train_step_end` does anything (the loop skips it otherwise)."""
        return type(self).on_train_step_end is not Callback.on_train_step_end

    @property
    def state_key(self) -> str:
        """Name of this callback's state inside a checkpoint."""
        return type(self).__name__

    def on_fit_start(self, loop: Loop) -> None:
        """Training is about to start (or resume)."""

    def on_epoch_start(self, loop: Loop) -> None:
        """An epoch is about to start."""

    def on_train_step_end(self, loop: Loop) -> None:
        """One optimizer step finished (hot path)."""

    def on_progress(self, loop: Loop) -> None:
        """A throttle point: running metrics were just read from the device."""

    def on_epoch_end(self, loop: Loop, metrics: dict[str, float]) -> None:
        """An epoch finished training and validation; `metrics` has its results."""

    def on_save_requested(self, loop: Loop) -> None:
        """Someone asked for a checkpoint now."""

    def on_pause(self, loop: Loop) -> None:
        """The loop is about to wait, paused at a step boundary."""

    def on_lr_changed(self, loop: Loop, ratios: list[float | None]) -> None:
        """Someone changed the learning rates: each group's new/old (None where the old
        one was 0); `LRChanged` is emitted next."""

    def on_stopping(self, loop: Loop) -> None:
        """The epoch loop is over; `TrainingStopped` is emitted next."""

    def on_fit_end(self, loop: Loop) -> None:
        """The epoch loop is over, for whatever reason."""

    def teardown(self, loop: Loop) -> None:
        """The fit is over, also when it raised: let go of threads and files (no events)."""

    def state_dict(self) -> dict[str, Any]:
        """Return this callback's state as plain values."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""
