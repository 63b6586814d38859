"""`--on-nan rollback`: survive a diverging run by going back to its last good epoch.

The callback keeps the state at the start and at the end of every epoch (model, optimizer,
scheduler, callbacks, history, RNG states, data order) as a copy in host memory. When the
training loss turns NaN or infinite, or jumps past `spike_factor` times the last epoch's
training loss, the loop stops the epoch there and asks it to roll back: the kept state is
restored, every learning rate is multiplied by `lr_factor` (once more for each further
rollback to the same state; a scheduler's schedule rescaled with it), and training goes on
from that epoch's end. After `max_rollbacks`
rollbacks, a non-finite loss stops the run as it does without rollback.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..background_writer import host_copy
from ..control import LR_SCALE, change_learning_rates
from ..events import ROLLBACK_LR_CHANGE, LRChanged, RolledBack
from .base import Callback

if TYPE_CHECKING:
    from ..loop import Loop

class Rollback(Callback):
    """Keeps the last good epoch's state and goes back to it when the loss goes bad."""

    order = 100  # after the scheduler and the other callbacks: their epoch-end state kept

    def __init__(self, lr_factor: float = 0.5, max_rollbacks: int = 3,
                 spike_factor: float | None = None) -> None:
        if not 0 < lr_factor <= 1:
            raise ValueError(f"lr_factor must be in (0, 1], got {lr_factor}")
        self.lr_factor = lr_factor
        self.max_rollbacks = max_rollbacks
        self.spike_factor = spike_factor
        self.count = 0
        self.scale = 1.0
        """What the kept state's learning rates are multiplied by on a rollback: the factor,
        once more for each rollback to the same state (a retry that fails again goes
        lower)."""
        self.good: dict[str, Any] | None = None
        self.reference: float | None = None
        """The last good epoch's training loss (what a spike is measured against)."""

    def on_fit_start(self, loop: Loop) -> None:
        """Keep the starting state: a loss that goes bad in the first epoch goes back here."""
        from ..checkpoint import snapshot

        self.good = host_copy(snapshot(loop, "rollback"))

    def on_epoch_end(self, loop: Loop, metrics: dict[str, float]) -> None:
        """Keep the state of an epoch that ended well."""
        from ..checkpoint import snapshot

        loss = metrics.get("train_loss")
        if loss is not None and math.isfinite(loss):
            self.reference = loss
        self.good = host_copy(snapshot(loop, "rollback"))
        self.scale = 1.0

    @property
    def can_roll_back(self) -> bool:
        """Whether a rollback is left, and a state to go back to."""
        return self.good is not None and self.count < self.max_rollbacks

    def spike(self, losses: list[float], step: int) -> str | None:
        """Why these step losses count as a spike, or None."""
        if self.spike_factor is None or self.reference is None or not losses:
            return None
        worst = max(losses)
        if worst > self.spike_factor * self.reference:
            return (f"training loss {worst:.4g} at step {step}, over {self.spike_factor:g} "
                    f"times the last epoch's {self.reference:.4g}")
        return None

    def roll_back(self, loop: Loop, reason: str) -> None:
        """Go back to the kept state, lower every learning rate, and say so."""
        from ..checkpoint import restore

        assert self.good is not None
        epoch, step, elapsed = loop.epoch + 1, loop.global_step, loop.elapsed_before
        count = self.count + 1
        restore(loop, self.good)
        loop.elapsed_before = elapsed  # the clock does not go back
        loop.weights_corrupt = False
        self.count = count  # (the restored state had the count before this rollback)
        self.scale *= self.lr_factor
        old = loop.lr
        ratios = change_learning_rates(loop.optimizer.param_groups, LR_SCALE, self.scale)
        loop.call("on_lr_changed", ratios)
        loop.emit(RolledBack(epoch=epoch, global_step=step, to_epoch=loop.epoch,
                             to_step=loop.global_step, reason=reason, old_lr=old,
                             new_lr=loop.lr, count=count, max_count=self.max_rollbacks))
        loop.emit(LRChanged(epoch=loop.epoch, global_step=loop.global_step, old_lr=old,
                            new_lr=loop.lr, scheduler=ROLLBACK_LR_CHANGE))

    def state_dict(self) -> dict[str, Any]:
        """The rollbacks taken so far (a resumed run has only those left)."""
        return {"count": self.count, "reference": self.reference}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        self.count = int(state.get("count", 0))
        self.reference = state.get("reference")
