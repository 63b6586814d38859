"""trainui for PyTorch Lightning: `Trainer(callbacks=[TrainuiCallback()])`.

The callback makes (or, under `trainui run`, joins) a trainui run and feeds it: the step
loss from each `training_step`'s output (kept on the device: no sync per step), the
scalars you `self.log`, the learning rate, epoch-end validation metrics, Lightning's
EarlyStopping state and ModelCheckpoint saves. A view's requests reach the Trainer: pause
blocks at a batch boundary, save calls `trainer.save_checkpoint`, stop sets
`trainer.should_stop`. Only global rank 0 writes anything.

Requires the `lightning` package (`pip install 'trainui[lightning]'`).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

try:
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("trainui.integrations.lightning needs PyTorch Lightning: "
                      "pip install 'trainui[lightning]'") from exc

import trainui
from trainui.core.control import STOP_NOW
from trainui.core.throttle import Throttle

from ._common import RunHolder, predict_split, scalars, to_device

__all__ = ["TrainuiCallback"]



class TrainuiCallback(RunHolder, Callback):
    """Shows a Lightning fit in trainui, and lets trainui pause, save and stop it.

    `run_dir`, `root`, `name`, `config`, `class_names` are passed to `trainui.init`
    (`config` defaults to the module's hparams). At the end of the fit the model is scored
    on the validation data for the confusion matrix: `evaluate=False` skips it, and
    `predict(module, batch) -> (labels, scores)` replaces the default reading of a batch
    as `(inputs, labels, ...)` scored by `module(inputs)`.
    """

    def __init__(self, *, run_dir: str | os.PathLike[str] | None = None,
                 root: str | os.PathLike[str] = "runs", name: str | None = None,
                 config: dict[str, Any] | None = None,
                 class_names: Sequence[str] | None = None, evaluate: bool = True,
                 predict: Callable[[Any, Any], tuple[Any, Any]] | None = None,
                 progress_interval: float = 0.25) -> None:
        RunHolder.__init__(self, run_dir=run_dir, root=root, name=name, config=config,
                           class_names=class_names, evaluate=evaluate,
                           predict=predict or _inputs_then_labels,
                           progress_interval=progress_interval)
        self._throttle = Throttle(progress_interval)
        self._trainer: pl.Trainer | None = None
        self._seen_saves: set[str] = set()
        self._reported_wait: tuple[int, int] | None = None
        self._accumulate = 1
        self._sigterm = False
        self._window: list[torch.Tensor] = []
        """The losses of the accumulation window under way (one optimizer step)."""


    # ---- start ----------------------------------------------------------------------
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Make the run (rank 0): its epochs, steps per epoch and model."""
        if not trainer.is_global_zero or self.open_run() is not None:
            return
        self._trainer = trainer
        steps = trainer.num_training_batches
        accumulate = max(1, int(getattr(trainer, "accumulate_grad_batches", 1) or 1))
        self._accumulate, self._sigterm, self._reported_wait = accumulate, False, None
        epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else 0
        config = self.config if self.config is not None else dict(pl_module.hparams)
        self.run = trainui.init(
            config=config, epochs=epochs,
            steps_per_epoch=math.ceil(steps / accumulate) if math.isfinite(steps) else 0,
            model=pl_module, dataset=_datamodule_name(trainer), save=self._save_checkpoint,
            steerable=trainer.world_size == 1, **self.options)
        self.run.epoch = trainer.current_epoch  # a fit resumed from a checkpoint goes on
        self.run.global_step = trainer.global_step
        self._window = []
        self._seen_saves = {path for path in _checkpoint_paths(trainer) if path}

    # ---- steps ----------------------------------------------------------------------
    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        """One step: the loss (on the device), the LR; `self.log` scalars a few times a
        second. A pause waits here; a stop ends the fit."""
        run = self.open_run()
        if run is None:
            return
        if run.batch_size is None:
            size = _batch_size(batch)
            run.batch_size = size * self._accumulate if size else None  # per optimizer step
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor):
            self._window.append(loss.detach())
        if trainer.global_step == run.global_step:
            return  # no optimizer step yet (accumulating): logged once the step is taken
        metrics: dict[str, Any] = {}
        if self._window:
            # Lightning divides each by the accumulated batches: back to their mean.
            window, self._window = self._window, []
            total = window[0] if len(window) == 1 else torch.stack(window).sum()
            scale = self._accumulate / len(window)
            metrics["loss"] = total * scale if scale != 1 else total
        if trainer.optimizers:
            metrics["lr"] = _lr(trainer.optimizers[0])
        # The logged scalars a few times a second, and at each epoch's last batch.
        if self._throttle.ready() or batch_idx + 1 >= trainer.num_training_batches:
            metrics.update(_step_metrics(trainer, "loss" in metrics))
        run.log(metrics, step=trainer.global_step)
        if getattr(trainer, "received_sigterm", False) and not self._sigterm:
            # Lightning ends the fit right after this batch: save and stop, as asked.
            self._sigterm = True
            run.control.request_save()
            run.control.request_stop(STOP_NOW, source="SIGTERM")
            run.handle_requests()
        if run.stop_requested:
            trainer.should_stop = True

    # ---- epochs ---------------------------------------------------------------------
    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """EarlyStopping and ModelCheckpoint decide after the epoch-end hooks: report
        the previous epoch's decisions now."""
        self._report_monitors(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """End the epoch with the validation metrics (validation ran inside it)."""
        run = self.open_run()
        if run is None:
            return
        run.end_epoch(_epoch_metrics(trainer))
        if run.stop_requested:
            trainer.should_stop = True

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """The last epoch's monitor decisions."""
        self._report_monitors(trainer)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Score the validation data for the confusion matrix, then end the run."""
        run = self.open_run()
        if run is None:
            return
        if self.evaluate:
            self._score(trainer, pl_module, run)
        run.finish()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                     exception: BaseException) -> None:
        """The fit raised: the run failed (a second Ctrl+C: it is left interrupted; after
        SIGTERM, Lightning's own exit: it stopped)."""
        run = self.open_run()
        if run is not None:
            run.__exit__(type(exception), exception, exception.__traceback__)

    # ---- requests -------------------------------------------------------------------
    def _save_checkpoint(self) -> str | None:
        trainer = self._trainer
        if trainer is None or self.run is None:
            return None
        folder = Path(self.run.run_dir) / "checkpoints"
        folder.mkdir(exist_ok=True)
        path = folder / f"requested-step={trainer.global_step}.ckpt"
        trainer.save_checkpoint(path)
        return str(path)

    def _report_monitors(self, trainer: pl.Trainer) -> None:
        run = self.open_run()
        if run is None:
            return
        for callback in trainer.checkpoint_callbacks:
            if isinstance(callback, ModelCheckpoint):
                self._report_saves(run, callback)
        stopper = trainer.early_stopping_callback
        if isinstance(stopper, EarlyStopping) and run.epoch:
            state = (run.epoch, int(stopper.wait_count))
            if state == self._reported_wait:
                return
            self._reported_wait = state
            metrics = trainer.callback_metrics
            value = metrics.get(stopper.monitor)
            best = stopper.best_score
            run.early_stopping(
                monitor=stopper.monitor, mode=stopper.mode,
                value=float(value) if value is not None else float("nan"),
                best=float(best) if best is not None and torch.isfinite(best) else None,
                wait_count=int(stopper.wait_count), patience=int(stopper.patience),
                stopping=bool(stopper.stopped_epoch) or trainer.should_stop and (
                    stopper.wait_count >= stopper.patience))

    def _report_saves(self, run: trainui.Run, callback: ModelCheckpoint) -> None:
        best = callback.best_model_path
        if best and best not in self._seen_saves and os.path.exists(best):
            self._seen_saves.add(best)
            score = callback.best_model_score
            run.saved(best, reason="best", monitor=callback.monitor,
                      value=float(score) if score is not None else None)
        last = callback.last_model_path
        if last and os.path.exists(last):
            stamp = f"{last}@{os.stat(last).st_mtime_ns}"
            if stamp not in self._seen_saves:
                self._seen_saves.add(stamp)
                run.saved(last, reason="last")

    def _score(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
               run: trainui.Run) -> None:
        loaders = trainer.val_dataloaders
        if loaders is None:
            return
        loader = loaders[0] if isinstance(loaders, list | tuple) else loaders
        device = pl_module.device

        def step(module: Any, batch: Any) -> tuple[Any, Any]:
            return self.predict(module, to_device(batch, device))

        scored = predict_split(pl_module, loader, step)
        if scored is not None:
            run.evaluate(*scored, split="validation")


def _lr(optimizer: Any) -> Any:
    """The first group's LR: a float, or a tensor (capturable optimizers) left as it is."""
    lr = optimizer.param_groups[0]["lr"]
    return lr if isinstance(lr, torch.Tensor) else float(lr)


def _inputs_then_labels(module: Any, batch: Any) -> tuple[Any, Any]:
    """The usual batch: (inputs, labels, ...), scored by `module(inputs)`."""
    inputs, labels = batch[0], batch[1]
    return labels, module(inputs)


def _training_logs(trainer: pl.Trainer) -> dict[str, tuple[bool, bool]] | None:
    """What training hooks `self.log`: name -> (on_step, on_epoch); None if Lightning does
    not say (then names decide: `*_step`, `*_epoch`, `val*`)."""
    try:
        results = trainer.fit_loop.epoch_loop._results
        return {metric.meta.name: (bool(metric.meta.on_step), bool(metric.meta.on_epoch))
                for metric in results.values()}
    except Exception:  # a Lightning whose internals moved: fall back on the names
        return None


def _step_metrics(trainer: pl.Trainer, have_loss: bool) -> dict[str, Any]:
    """The training scalars `self.log`ged for steps (names without `_step`)."""
    values = scalars(trainer.callback_metrics)
    logs = _training_logs(trainer)
    if logs is None:
        picked = {name.removesuffix("_step"): value for name, value in values.items()
                  if not name.endswith("_epoch") and not _is_validation(name)}
    else:
        picked = {name: values[key] for name, (on_step, on_epoch) in logs.items()
                  if on_step and (key := f"{name}_step" if on_epoch else name) in values}
    if have_loss:  # the step output's loss is the same number, every step
        for name in ("loss", "train_loss"):
            picked.pop(name, None)
    return picked


def _epoch_metrics(trainer: pl.Trainer) -> dict[str, Any]:
    """At an epoch's end: the epoch values of training scalars logged `on_epoch`, and the
    validation scalars (names without `_epoch`)."""
    values = scalars(trainer.callback_metrics)
    logs = _training_logs(trainer)
    if logs is None:
        return {name.removesuffix("_epoch"): value for name, value in values.items()
                if name.endswith("_epoch") or _is_validation(name)}
    picked = {name: values[key] for name, (on_step, on_epoch) in logs.items()
              if on_epoch and (key := f"{name}_epoch" if on_step else name) in values}
    training = {key for name in logs for key in (name, f"{name}_step", f"{name}_epoch")}
    for name, value in values.items():  # validation's, and any other epoch-level scalar
        if name not in training and not name.endswith("_step"):
            picked.setdefault(name.removesuffix("_epoch"), value)
    return picked


def _is_validation(name: str) -> bool:
    return re.match(r"(val|valid|validation|test)(_|/|$)", name) is not None


def _checkpoint_paths(trainer: pl.Trainer) -> list[str]:
    return [path for callback in trainer.checkpoint_callbacks
            if isinstance(callback, ModelCheckpoint)
            for path in (callback.best_model_path, callback.last_model_path)]


def _datamodule_name(trainer: pl.Trainer) -> str | None:
    datamodule = getattr(trainer, "datamodule", None)
    return type(datamodule).__name__ if datamodule is not None else None


def _batch_size(batch: Any) -> int | None:
    from lightning.pytorch.utilities.data import extract_batch_size

    try:
        return int(extract_batch_size(batch))
    except Exception:
        return None
