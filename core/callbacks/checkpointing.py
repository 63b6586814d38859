"""Checkpointing: best by a monitored metric, last, every N epochs, and on request."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..background_writer import BackgroundWriter, host_copy
from ..checkpoint import load_checkpoint, model_state_of, snapshot
from ..events import CheckpointSaved
from ..files import FileWriter
from ..monitor import MetricMonitor
from .base import Callback

if TYPE_CHECKING:
    from ..loop import Loop


@dataclass(frozen=True)
class _Saved:
    """What a checkpoint file's event says, fixed when its snapshot was taken."""

    reason: str
    epoch: int
    global_step: int
    value: float | None


class Checkpointing(Callback):
    """Writes full checkpoints (model, optimizer, scheduler, scaler, callbacks, history, RNG).

    Files in `directory`: `best.pt` (best `monitor` so far, by the rule early stopping uses:
    an improvement must beat the best by more than `min_delta`), `last.pt` (every epoch),
    `epoch-NNN.pt` (every `every_n_epochs`), `saved-step-NNNNNNNN.pt` (on request). Every
    write is atomic and happens on a background thread (`BackgroundWriter`): the loop pays
    for a copy of the state in host memory; `CheckpointSaved` is emitted once a file is
    durable, at the next hook. The fit does not end before the last write is on disk.
    `background=False` writes on the training thread instead, inside the hook.
    At the end, the final weights go to `final_weights` as a plain state_dict, and with
    `restore_best` the model is left holding the best weights.
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
        background: bool = True,
    ) -> None:
        self.writer = FileWriter(directory, enabled=enabled)
        self.files = BackgroundWriter(self.writer, background=background)
        self.tracker = MetricMonitor(monitor, mode, min_delta)
        self.every_n_epochs = every_n_epochs
        self.save_last = save_last
        self.final_weights = final_weights
        self.restore_best = restore_best
        self.best_path: Path | None = None

    def on_epoch_start(self, loop: Loop) -> None:
        """Report checkpoints written since the last hook."""
        self._report(loop)

    def on_progress(self, loop: Loop) -> None:
        """Report checkpoints written since the last hook (a throttle point)."""
        self._report(loop)

    def on_epoch_end(self, loop: Loop, metrics: dict[str, float]) -> None:
        """Save best, periodic and last checkpoints for this epoch (one snapshot)."""
        self._report(loop)
        value = self.tracker.read(metrics)
        files = []
        if self.tracker.update(value, loop.epoch):
            files.append(("best.pt", "best"))
            self.best_path = self.writer.path("best.pt")
        if self.every_n_epochs and loop.epoch % self.every_n_epochs == 0:
            files.append((f"epoch-{loop.epoch:03d}.pt", "periodic"))
        if self.save_last:
            files.append(("last.pt", "last"))  # last: a kill before it leaves the old one
        if files:
            self._submit(loop, "epoch_end", files, value)

    def on_save_requested(self, loop: Loop) -> None:
        """Save a checkpoint of the current state, mid-epoch if need be."""
        self._submit(loop, "requested", [(f"saved-step-{loop.global_step:08d}.pt", "requested")],
                     None)
        if loop.control.paused:  # nothing trains meanwhile: confirm it before waiting on
            self.flush(loop)

    def on_pause(self, loop: Loop) -> None:
        """Finish and report the writes in flight, so a paused run shows them."""
        self.flush(loop)

    def on_stopping(self, loop: Loop) -> None:
        """The last epoch's checkpoints are on disk (and said) before training stops."""
        self.flush(loop)

    def on_fit_end(self, loop: Loop) -> None:
        """Save the final weights (the last checkpoint is on disk since `on_stopping`),
        then put the best weights back into the model."""
        if self.final_weights is not None and not loop.weights_corrupt:
            path = self.writer.save_torch(str(self.final_weights), loop.model.state_dict())
            loop.emit(CheckpointSaved(path=str(path), reason="final_weights", epoch=loop.epoch,
                                      global_step=loop.global_step))
        if self.restore_best and self.best_path is not None and self.writer.enabled:
            state = model_state_of(load_checkpoint(self.best_path), self.best_path)
            loop.model.load_state_dict(state)
            loop.evaluated_weights = f"best (epoch {self.tracker.best_epoch})"

    def teardown(self, loop: Loop) -> None:
        """Let the write in flight finish, whatever ended the fit."""
        self.files.close()

    def flush(self, loop: Loop) -> None:
        """Wait until every checkpoint submitted is on disk, and report it."""
        self.files.wait_idle()
        self._report(loop)

    def _submit(self, loop: Loop, reason: str, files: list[tuple[str, str]],
                value: float | None) -> None:
        # One snapshot at a time: wait for the previous write before copying the state.
        self.files.wait_idle()
        self._report(loop)
        payload = snapshot(loop, reason)
        if self.files.background:  # written later: training must not change it meanwhile
            payload = host_copy(payload)
        tags = [(name, _Saved(kind, loop.epoch, loop.global_step, value)) for name, kind in files]
        self.files.submit(payload, tags)

    def _report(self, loop: Loop) -> None:
        """Emit CheckpointSaved for each file now on disk; raise a write error."""
        for written in self.files.take_written():
            saved: _Saved = written.tag
            loop.emit(CheckpointSaved(
                path=str(written.path), reason=saved.reason, epoch=saved.epoch,
                global_step=saved.global_step, monitor=self.tracker.monitor, value=saved.value,
            ))
        self.files.check()

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
