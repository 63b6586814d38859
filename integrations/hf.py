"""trainui for the Hugging Face Trainer: `Trainer(..., callbacks=[TrainuiCallback()])`.

The callback makes (or, under `trainui run`, joins) a trainui run and feeds it: each
step's loss (the model output's `loss`, kept on the device: no sync per step), the
Trainer's logs (grad norm, learning rate...), evaluation metrics (`eval_loss`,
`eval_accuracy`... as the epoch's validation metrics), checkpoint saves and
EarlyStoppingCallback's state. A view's requests reach the Trainer: pause blocks in
`on_step_end`, save sets `control.should_save`, stop sets `control.should_training_stop`.
Only the world's main process writes anything.

For a step loop without a host-device sync, create the TrainingArguments with
`logging_nan_inf_filter=False` (the Trainer's default checks every step's loss on the
host). Requires transformers and accelerate (`pip install 'trainui[hf]'`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

try:
    from transformers import (
        EarlyStoppingCallback,
        TrainerCallback,
        TrainerControl,
        TrainerState,
        TrainingArguments,
    )
    from transformers.trainer_callback import CallbackHandler
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("trainui.integrations.hf needs transformers: "
                      "pip install 'trainui[hf]'") from exc

import trainui

from ._common import RunHolder, predict_split, scalars, to_device

__all__ = ["TrainuiCallback"]

NOT_METRICS = ("epoch", "total_flos", "train_runtime", "train_samples_per_second",
               "train_steps_per_second", "eval_runtime", "eval_samples_per_second",
               "eval_steps_per_second", "learning_rate", "loss", "train_loss")
"""Log entries that are not charted as metrics (trainui has its own speed, epoch, LR and
per-step loss)."""


class TrainuiCallback(RunHolder, TrainerCallback):
    """Shows a Hugging Face Trainer run in trainui, and lets trainui pause, save and stop it.

    `run_dir`, `root`, `name`, `config` (default: the TrainingArguments) and
    `class_names` go to `trainui.init`. At the end of training the model is scored on
    the evaluation data for the confusion matrix: `evaluate=False` skips it, and
    `predict(model, batch) -> (labels, scores)` replaces the default (`batch["labels"]`,
    scored by the `logits` of `model(**batch)`).
    """

    def __init__(self, *, run_dir: str | os.PathLike[str] | None = None,
                 root: str | os.PathLike[str] = "runs", name: str | None = None,
                 config: dict[str, Any] | None = None,
                 class_names: Sequence[str] | None = None, evaluate: bool = True,
                 predict: Callable[[Any, Any], tuple[Any, Any]] | None = None,
                 progress_interval: float = 0.25) -> None:
        RunHolder.__init__(self, run_dir=run_dir, root=root, name=name, config=config,
                           class_names=class_names, evaluate=evaluate,
                           predict=predict or _labels_and_logits,
                           progress_interval=progress_interval)
        self._losses: list[torch.Tensor] = []
        self._hook: Any = None
        self._stopper: EarlyStoppingCallback | None = None
        self._save_asked = False
        self._epoch_open = False
        self._last_eval: dict[str, Any] = {}
        self._eval_done = False
        self._reported_stop: tuple[int, int] | None = None
        self._monitor = "eval_loss"
        self._greater = False
        self._summed = False
        self._stale_eval = False


    # ---- start ----------------------------------------------------------------------
    def on_train_begin(self, args: TrainingArguments, state: TrainerState,
                       control: TrainerControl, model: Any = None,
                       train_dataloader: Any = None, **kwargs: Any) -> None:
        """Make the run (main process): epochs, optimizer steps per epoch, the model."""
        if not state.is_world_process_zero or self.open_run() is not None:
            return
        accumulate = max(1, int(args.gradient_accumulation_steps))
        steps = 0
        if train_dataloader is not None:
            try:
                steps = math.ceil(len(train_dataloader) / accumulate)
            except TypeError:
                steps = 0
        self._losses, self._last_eval, self._reported_stop = [], {}, None
        epochs = math.ceil(state.num_train_epochs or args.num_train_epochs or 0)
        config = self.config if self.config is not None else _plain_args(args)
        self.run = trainui.init(config=config, epochs=int(epochs), steps_per_epoch=steps,
                                model=model, batch_size=state.train_batch_size and
                                state.train_batch_size * accumulate * max(1, args.world_size),
                                steerable=args.world_size == 1, **self.options)
        self.run.epoch = int(state.epoch or 0)  # resumed from a checkpoint: goes on
        self.run.leave_pause_to_save = True  # the Trainer saves once on_step_end returns
        if model is not None:
            self._hook = model.register_forward_hook(self._keep_loss, with_kwargs=True)
        self._stopper = _find_stopper()
        monitor = args.metric_for_best_model or "loss"
        self._monitor = monitor if monitor.startswith("eval_") else f"eval_{monitor}"
        self._greater = bool(args.greater_is_better)

    def _keep_loss(self, module: torch.nn.Module, _args: Any, kwargs: dict[str, Any],
                   output: Any) -> None:
        """Each training forward's loss, detached and left on the device. Given
        `num_items_in_batch`, the model divided its loss by the whole accumulation
        window's count: the window's loss is then the sum of these, not their mean."""
        if not module.training:
            return
        self._summed = kwargs.get("num_items_in_batch") is not None
        loss = output.get("loss") if isinstance(output, Mapping) else getattr(output, "loss",
                                                                                None)
        if loss is None and isinstance(output, tuple | list) and output:
            loss = output[0] if isinstance(output[0], torch.Tensor) and output[0].ndim == 0 \
                else None
        if isinstance(loss, torch.Tensor) and loss.numel() == 1:
            self._losses.append(loss.detach())

    # ---- steps ----------------------------------------------------------------------
    def on_epoch_begin(self, args: TrainingArguments, state: TrainerState,
                       control: TrainerControl, **kwargs: Any) -> None:
        """A new epoch: the previous evaluation's early-stopping decision first."""
        self._report_stopper(state, control)
        self._epoch_open = True
        self._eval_done = False

    def on_step_end(self, args: TrainingArguments, state: TrainerState,
                    control: TrainerControl, optimizer: Any = None, **kwargs: Any) -> None:
        """One optimizer step: its loss and LR. A pause waits here; a save or a stop
        sets the Trainer's control flags."""
        run = self.open_run()
        if run is None:
            return
        metrics: dict[str, Any] = {}
        if self._losses:
            losses, self._losses = self._losses, []
            if len(losses) == 1:
                metrics["loss"] = losses[0]
            else:
                stacked = torch.stack(losses)
                metrics["loss"] = stacked.sum() if self._summed else stacked.mean()
        if optimizer is not None and getattr(optimizer, "param_groups", None):
            lr = optimizer.param_groups[0]["lr"]
            metrics["lr"] = lr if isinstance(lr, torch.Tensor) else float(lr)
        run.log(metrics, step=state.global_step)
        self._obey(run, control)

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """The Trainer's logs: grad norm and any other training scalar (evaluation
        results come through on_evaluate)."""
        run = self.open_run()
        if run is None or not logs:
            return
        extra = {name: value for name, value in scalars(logs).items()
                 if name not in NOT_METRICS and not name.startswith(("eval_", "test_"))
                 and not name.endswith(("_runtime", "_per_second"))}
        if extra and state.global_step >= run.global_step:
            run.log(extra, step=state.global_step)

    def on_evaluate(self, args: TrainingArguments, state: TrainerState,
                    control: TrainerControl, metrics: dict[str, Any] | None = None,
                    **kwargs: Any) -> None:
        """Evaluation results: they end the epoch when evaluation runs once per epoch."""
        run = self.open_run()
        if run is None:
            return
        self._last_eval = {name: value for name, value in scalars(metrics or {}).items()
                           if name not in NOT_METRICS
                           and not name.endswith(("_runtime", "_per_second"))}
        self._stale_eval = False
        if not self._epoch_open and not self._eval_done:
            self._eval_done = True
            run.end_epoch(self._last_eval)
            self._obey(run, control)
            self._stale_eval = True

    def on_epoch_end(self, args: TrainingArguments, state: TrainerState,
                     control: TrainerControl, **kwargs: Any) -> None:
        """End the epoch now, or (evaluating at each epoch's end) once its evaluation is
        in."""
        run = self.open_run()
        if run is None:
            return
        self._epoch_open = False
        if not control.should_evaluate:
            self._eval_done = True
            # An evaluation reported before (steps-based) counts once, not every epoch.
            run.end_epoch({} if self._stale_eval else self._last_eval)
            self._stale_eval = True
            self._obey(run, control)

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                **kwargs: Any) -> None:
        """A checkpoint was written."""
        run = self.open_run()
        if run is None:
            return
        path = os.path.join(args.output_dir or ".", f"checkpoint-{state.global_step}")
        reason = "requested" if self._save_asked else "periodic"
        self._save_asked = False
        best = state.best_model_checkpoint
        if reason == "periodic" and best and os.path.abspath(best) == os.path.abspath(path):
            reason = "best"
        run.saved(path, reason=reason, monitor=args.metric_for_best_model if reason == "best"
                  else None, value=state.best_metric if reason == "best" else None)
        # Saved while paused: the pause goes on here, and a save asked for meanwhile is
        # this checkpoint (the Trainer could only save again after another step).
        run.handle_requests(checkpoint=path)

    def on_train_end(self, args: TrainingArguments, state: TrainerState,
                     control: TrainerControl, model: Any = None, eval_dataloader: Any = None,
                     **kwargs: Any) -> None:
        """The last early-stopping decision, the confusion matrix, the end of the run."""
        run = self.open_run()
        if run is None:
            return
        if self._hook is not None:
            self._hook.remove()
        self._report_stopper(state, control)
        if self.evaluate and model is not None and eval_dataloader is not None:
            device = next(model.parameters()).device

            def step(module: Any, batch: Any) -> tuple[Any, Any]:
                return self.predict(module, to_device(batch, device))

            scored = predict_split(model, eval_dataloader, step)
            if scored is not None:
                best = args.load_best_model_at_end and state.best_model_checkpoint
                run.evaluate(*scored, split="eval", weights="best" if best else "last")
        run.finish()

    # ---- requests and early stopping ------------------------------------------------
    def _obey(self, run: trainui.Run, control: TrainerControl) -> None:
        if run.save_requested and not self._save_asked:
            self._save_asked = True
            control.should_save = True
        if run.stop_requested:
            control.should_training_stop = True

    def _report_stopper(self, state: TrainerState, control: TrainerControl) -> None:
        run, stopper = self.run, self._stopper
        if run is None or stopper is None or not self._last_eval:
            return
        wait = int(stopper.early_stopping_patience_counter)
        key = (run.epoch, wait)
        if key == self._reported_stop:
            return
        self._reported_stop = key
        value = self._last_eval.get(self._monitor)
        best = state.best_metric
        run.early_stopping(
            monitor=self._monitor, mode="max" if self._greater else "min",
            value=float(value) if value is not None else float("nan"),
            best=float(best) if best is not None else None, wait_count=wait,
            patience=int(stopper.early_stopping_patience),
            stopping=wait >= stopper.early_stopping_patience and control.should_training_stop)


def _labels_and_logits(model: Any, batch: Any) -> tuple[Any, Any]:
    """The usual Hugging Face batch: a dict with `labels`, scored by the output's logits."""
    output = model(**batch)
    logits = output["logits"] if isinstance(output, Mapping) else output.logits
    return batch["labels"], logits


def _find_stopper() -> EarlyStoppingCallback | None:
    """The Trainer's EarlyStoppingCallback: callbacks get no Trainer, so it is found in
    the CallbackHandler calling this hook."""
    frame = sys._getframe(1)
    for _ in range(6):
        if frame is None:
            return None
        handler = frame.f_locals.get("self")
        if isinstance(handler, CallbackHandler):
            return next((c for c in handler.callbacks if isinstance(c, EarlyStoppingCallback)),
                        None)
        frame = frame.f_back  # type: ignore[assignment]
    return None


def _plain_args(args: TrainingArguments) -> dict[str, Any]:
    """The TrainingArguments that differ from their defaults (the whole set is ~150)."""
    defaults = {field.name: field.default for field in dataclasses.fields(TrainingArguments)
                if field.default is not dataclasses.MISSING}
    values = args.to_dict()
    return {key: value for key, value in values.items()
            if key in ("output_dir", "num_train_epochs", "learning_rate")
            or (key in defaults and defaults[key] != value)}
