"""Checkpointing: best by a monitored metric, last, every N epochs, and on request."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..checkpoint import load_checkpoint, model_state_of, snapshot
from ..events import CheckpointSaved
from ..files import FileWriter, torch_bytes
from ..monitor import MetricMonitor
from .base import Callback

if TYPE_CHECKING:
    from ..loop import Loop


class Checkpointing(Callback):
    """Writes full checkpoints (model, optimizer, scheduler, scaler, callbacks, history, RNG).

    Files in `directory`: `best.pt` (best `monitor` so far, by the rule early stopping uses:
    an improvement must beat the best by more than `min_delta`), `last.pt` (every epoch),
    `epoch-NNN.pt` (every `every_n_epochs`), `saved-step-NNNNNNNN.pt` (on request). Every
    write is atomic. At the end, the final weights go to `final_weights` as a plain
    state_dict, and with `restore_best` the model is left holding the best weights.
    """

    order = 90

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        monitor: str = "val_loss",
        mode: str = "min",
        min_delta: float = 0.0,
        every_n_epochs: int = 0,
        save_last: bool = True,
        final_weights: str | os.PathLike[str] | None = "final_model.pt",
        restore_best: bool = True,
        enabled: bool = True,
    ) -> None:
        self.writer = FileWriter(directory, enabled=enabled)
        self.tracker = MetricMonitor(monitor, mode, min_delta)
        self.every_n_epochs = every_n_epochs
        self.save_last = save_last
        self.final_weights = final_weights
        self.restore_best = restore_best
        self.best_path: Path | None = None

    def on_epoch_end(self, loop: Loop, metrics: dict[str, float]) -> None:
        """Save best, periodic and last checkpoints for this epoch (serialised once)."""
        value = self.tracker.read(metrics)
        files = []
        if self.tracker.update(value, loop.epoch):
            files.append(("best.pt", "best"))
        if self.every_n_epochs and loop.epoch % self.every_n_epochs == 0:
            files.append((f"epoch-{loop.epoch:03d}.pt", "periodic"))
        if self.save_last:
            files.append(("last.pt", "last"))  # last: a kill before it leaves the old one
        if not files:
            return
        data = torch_bytes(snapshot(loop, "epoch_end"))
        for name, reason in files:
            path = self._write(loop, name, data, reason, value)
            if reason == "best":
                self.best_path = path

    def on_save_requested(self, loop: Loop) -> None:
        """Save a checkpoint of the current state, mid-epoch if need be."""
        self._save(loop, f"saved-step-{loop.global_step:08d}.pt", "requested", None)

    def on_fit_end(self, loop: Loop) -> None:
        """Save the final weights, then put the best weights back into the model."""
        if self.final_weights is not None and not loop.weights_corrupt:
            path = self.writer.save_torch(str(self.final_weights), loop.model.state_dict())
            loop.emit(CheckpointSaved(path=str(path), reason="final_weights", epoch=loop.epoch,
                                      global_step=loop.global_step))
        if self.restore_best and self.best_path is not None and self.writer.enabled:
            state = model_state_of(load_checkpoint(self.best_path), self.best_path)
            loop.model.load_state_dict(state)
            loop.evaluated_weights = f"best (epoch {self.tracker.best_epoch})"

    def _save(self, loop: Loop, name: str, reason: str, value: float | None) -> Path:
        return self._write(loop, name, torch_bytes(snapshot(loop, reason)), reason, value)

    def _write(self, loop: Loop, name: str, data: bytes, reason: str,
               value: float | None) -> Path:
        path = self.writer.write_bytes(name, data)
        loop.emit(CheckpointSaved(
            path=str(path), reason=reason, epoch=loop.epoch, global_step=loop.global_step,
            monitor=self.tracker.monitor, value=value,
        ))
        return path

    def state_dict(self) -> dict[str, Any]:
        """Return the best value, its epoch and its file."""
        return {**self.tracker.state_dict(),
                "best_path": None if self.best_path is None else str(self.best_path)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        self.tracker.load_state_dict(state)
        # Where this run's checkpoints are now, whatever directory (relative, moved) the
        # state was saved from.
        self.best_path = None if state["best_path"] is None else self.writer.path("best.pt")
