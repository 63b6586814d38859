"""One measured run of one loop-overhead variant, in the current (fresh) process.

Every variant trains the same model on the same data with the same seed, optimizer,
batch size, shuffle order and thread count; only the loop around it differs.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import BATCH_SIZE, LR, SEED
from loops import EpochEnds

Result = dict[str, Any]


def workload() -> tuple[Any, Any, Any, Any, Any]:
    """Seeded digits loaders, the default CNN, Adam and the loss, as run_training builds them."""
    import torch
    from torch import nn
    from torch.utils.data import DataLoader

    from trainui.core import seeding
    from trainui.core.data import load_dataset
    from trainui.core.models import build_model

    seeding.seed_everything(SEED)
    data = load_dataset("digits", None)
    model = build_model("cnn", (1, 8, 8), 10)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    shuffle_order = torch.Generator().manual_seed(SEED)
    train = DataLoader(data.train, batch_size=BATCH_SIZE, shuffle=True, generator=shuffle_order)
    val = DataLoader(data.val, batch_size=BATCH_SIZE, shuffle=False)
    return model, train, val, optimizer, nn.CrossEntropyLoss()


def run_plain(epochs: int) -> Result:
    """The floor: a hand-written loop reading the device once per epoch."""
    import torch
    from loops import plain_fit

    model, train, val, optimizer, criterion = workload()
    with Region() as region:
        out = plain_fit(model, train, val, criterion, optimizer, torch.device("cpu"), epochs)
    return {**out, **region.figures(), "steps": epochs * len(train)}


def run_plain_logged(epochs: int) -> Result:
    """The same plain loop with `run.log({"loss", "acc"})` every step (tensors, as a user
    passes them) and `run.end_epoch` every epoch: trainui's logging API, headless."""
    import torch
    from loops import plain_fit

    import trainui

    model, train, val, optimizer, criterion = workload()
    with tempfile.TemporaryDirectory() as tmp:
        run = trainui.init(run_dir=Path(tmp) / "run", epochs=epochs,
                           steps_per_epoch=len(train), model=model, batch_size=BATCH_SIZE,
                           handle_signals=False)

        def step(loss: Any, outputs: Any, targets: Any) -> None:
            run.log({"loss": loss, "acc": (outputs.detach().argmax(1) == targets).float().mean()})

        def epoch(val_loss: float, val_acc: float) -> None:
            run.end_epoch({"val_loss": val_loss, "val_acc": val_acc})

        with Region() as region:
            out = plain_fit(model, train, val, criterion, optimizer, torch.device("cpu"),
                            epochs, on_step=step, on_epoch=epoch)
        run.finish()
    return {**out, **region.figures(), "steps": epochs * len(train)}


def run_chapter(epochs: int) -> Result:
    """The chapter's loop: `.item()` twice per step, tqdm bars on stderr, best-model saves."""
    import torch
    from loops import chapter_fit

    model, train, val, optimizer, criterion = workload()
    with tempfile.TemporaryDirectory() as tmp, Region() as region:
        out = chapter_fit(model, train, val, criterion, optimizer, torch.device("cpu"), epochs,
                          save_path=str(Path(tmp) / "best_model.pth"))
    return {**out, **region.figures(), "steps": epochs * len(train)}


class EpochTimes:
    """A sink keeping trainui's own per-epoch train and train+val times from EpochEnded."""

    def __init__(self, train_size: int) -> None:
        self.train_size = train_size
        self.train_seconds: list[float] = []
        self.epoch_seconds: list[float] = []
        self.steps = 0
        self.val_acc = float("nan")
        self.region = Region()
        self.ends = EpochEnds()

    def figures(self) -> Result:
        """Per-epoch times, epoch-end marks, steps and final validation accuracy."""
        return {"train_seconds": self.train_seconds, "epoch_seconds": self.epoch_seconds,
                "val_acc": self.val_acc, "steps": self.steps, **self.ends.figures()}

    def __call__(self, event: Any) -> None:
        from trainui.core import events

        if isinstance(event, events.RunStarted):
            self.region.__enter__()
        elif isinstance(event, events.TrainingStopped):
            self.region.__exit__()
        elif isinstance(event, events.CheckpointSaved) and event.reason == "final_weights":
            self.region.__exit__()  # the last checkpoint is durable only now: count it too
        if isinstance(event, events.EpochEnded):
            # samples_per_second is samples / train-phase time, so this inverts it exactly.
            self.train_seconds.append(self.train_size / event.samples_per_second)
            self.epoch_seconds.append(event.epoch_time)
            self.steps = event.global_step
            self.val_acc = event.val_acc
            self.ends.mark()


def run_fit(epochs: int) -> Result:
    """trainui headless through the Python API: `trainui.core.fit`, no callbacks, no sinks."""
    from trainui.core import fit

    model, train, val, optimizer, criterion = workload()
    times = EpochTimes(len(train.dataset))
    with Region() as region:
        fit(model, train, val, criterion, optimizer, epochs=epochs, device="cpu", sinks=[times])
    return {**times.figures(), **region.figures()}


def run_cli(epochs: int, **options: Any) -> Result:
    """trainui headless as the CLI runs it: run_training + ConsoleSink, checkpoints on
    (best and last every epoch, written by the background writer).

    wall_seconds is RunStarted -> the final weights on disk: every epoch with validation,
    the checkpoint writes (the last one durable), history.csv and the console lines; not
    data loading or the final test. `options` are RunConfig fields (compile=True, say).
    """
    from trainui.core.config import RunConfig
    from trainui.core.console import ConsoleSink
    from trainui.core.job import run_training

    with tempfile.TemporaryDirectory() as tmp:
        config = RunConfig(epochs=epochs, patience=epochs, scheduler="none",
                           run_dir=str(Path(tmp) / "run"), seed=SEED, batch_size=BATCH_SIZE,
                           lr=LR, device="cpu", **options)
        times = EpochTimes(_digits_train_size())
        run_training(config, [ConsoleSink(sys.stdout), times])
    return {**times.figures(), **times.region.figures()}


def run_cli_inline(epochs: int) -> Result:
    """The same run with every checkpoint file serialised and written on the training
    thread, inside the epoch end (how trainui saved before the background writer)."""
    import functools

    import trainui.core.callbacks.checkpointing as checkpointing
    from trainui.core.background_writer import BackgroundWriter

    checkpointing.BackgroundWriter = functools.partial(  # type: ignore[misc]
        BackgroundWriter, background=False)
    return run_cli(epochs)


def _digits_train_size() -> int:
    from trainui.core.data import load_dataset

    return len(load_dataset("digits", None).train)  # type: ignore[arg-type]


def run_lightning(epochs: int, *, progress_bar: bool = True, trainui: bool = False) -> Result:
    """PyTorch Lightning's Trainer, default TQDM progress bar; no logger, no checkpointing.
    Without `progress_bar`: no progress bar; with `trainui`: trainui's callback too."""
    import lightning as L

    model, train, val, optimizer, criterion = workload()
    timer = _lightning_timer()
    module = _lightning_module(model, optimizer, criterion)
    callbacks: list[Any] = [timer]
    with tempfile.TemporaryDirectory() as tmp:
        if trainui:
            from trainui.integrations.lightning import TrainuiCallback

            callbacks.append(TrainuiCallback(run_dir=Path(tmp) / "run", evaluate=False))
        trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False,
                            enable_checkpointing=False, callbacks=callbacks,
                            enable_progress_bar=progress_bar, enable_model_summary=progress_bar,
                            deterministic=False)
        trainer.fit(module, train, val)
    return {"train_seconds": timer.train_seconds, "epoch_seconds": timer.epoch_seconds,
            "val_acc": float(trainer.callback_metrics.get("val_acc", math.nan)),
            **timer.region.figures(), **timer.ends.figures(), "steps": int(trainer.global_step)}


def _lightning_module(model: Any, optimizer: Any, criterion: Any) -> Any:
    import lightning as L

    class Classifier(L.LightningModule):
        """The same model, loss and optimizer, logging as a typical user does."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def training_step(self, batch: Any, _index: int) -> Any:
            inputs, targets = batch
            outputs = self.model(inputs)
            loss = criterion(outputs, targets)
            self.log("train_loss", loss, prog_bar=True)
            self.log("train_acc", (outputs.argmax(1) == targets).float().mean(), prog_bar=True,
                     on_step=False, on_epoch=True)
            return loss

        def validation_step(self, batch: Any, _index: int) -> None:
            inputs, targets = batch
            outputs = self.model(inputs)
            self.log("val_loss", criterion(outputs, targets), prog_bar=True)
            self.log("val_acc", (outputs.argmax(1) == targets).float().mean(), prog_bar=True)

        def configure_optimizers(self) -> Any:
            return optimizer

    return Classifier()


def _lightning_timer() -> Any:
    import lightning as L

    class PhaseTimer(L.Callback):
        """Train phase: epoch start -> validation start; epoch: epoch start -> epoch end."""

        def __init__(self) -> None:
            self.train_seconds: list[float] = []
            self.epoch_seconds: list[float] = []
            self._epoch_started = 0.0
            self.region = Region()
            self.ends = EpochEnds()

        def on_train_start(self, trainer: Any, module: Any) -> None:
            self.region.__enter__()

        def on_train_end(self, trainer: Any, module: Any) -> None:
            self.region.__exit__()

        def on_train_epoch_start(self, trainer: Any, module: Any) -> None:
            self._epoch_started = time.perf_counter()

        def on_validation_epoch_start(self, trainer: Any, module: Any) -> None:
            if not trainer.sanity_checking:
                self.train_seconds.append(time.perf_counter() - self._epoch_started)

        def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
            self.epoch_seconds.append(time.perf_counter() - self._epoch_started)
            self.ends.mark()

    return PhaseTimer()


VARIANTS: dict[str, Callable[[int], Result]] = {
    "plain": run_plain, "plain-log": run_plain_logged, "chapter": run_chapter, "fit": run_fit,
    "cli": run_cli, "cli-inline": run_cli_inline,
    "cli-compile": lambda epochs: run_cli(epochs, compile=True), "lightning": run_lightning,
    "lightning-quiet": lambda epochs: run_lightning(epochs, progress_bar=False),
    "lightning-trainui": lambda epochs: run_lightning(epochs, progress_bar=False, trainui=True),
}


def run_variant(name: str, epochs: int, threads: int) -> Result:
    """Run one variant with `threads` intra-op threads; add its summary figures."""
    import torch

    torch.set_num_threads(threads)
    result = VARIANTS[name](epochs)
    return summarise(name, result, threads)


def summarise(name: str, result: Result, threads: int) -> Result:
    """Steps/s over the train phase, over train+validation, and over the timed wall."""
    steps = result["steps"]
    train, epoch = sum(result["train_seconds"]), sum(result["epoch_seconds"])
    return {**steady_rates(result, steps),
        "variant": name, "threads": threads, **result,
        "train_steps_per_s": _rate(steps, train),
        "epoch_steps_per_s": _rate(steps, epoch),
        "wall_steps_per_s": _rate(steps, result.get("wall_seconds")),
        "cpu_steps_per_s": _rate(steps, result.get("cpu_seconds")),
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }


def steady_rates(result: Result, steps: int) -> Result:
    """Steps/s over epochs 2..N from the epoch-end marks: wall, and per CPU-second.

    Everything between two epoch ends counts (train, validation, checkpoints, events, UI);
    the first epoch (one-off warm-up) does not.
    """
    wall, cpu = result.get("epoch_end_wall", []), result.get("epoch_end_cpu", [])
    if len(wall) < 2:
        return {"steady_steps_per_s": math.nan, "steady_cpu_steps_per_s": math.nan}
    per_epoch = steps / len(wall)
    return {"steady_steps_per_s": _rate(per_epoch * (len(wall) - 1), wall[-1] - wall[0]),
            "steady_cpu_steps_per_s": _rate(per_epoch * (len(cpu) - 1), cpu[-1] - cpu[0])}


def _rate(steps: int, seconds: float | None) -> float:
    return steps / seconds if seconds else math.nan


class Region:
    """Wall and process CPU seconds (all threads) of a timed region: the epochs loop.

    Leaving it again moves its end (a later event that still belongs to the region)."""

    def __init__(self) -> None:
        self.start = self.end = (0.0, 0.0)

    def __enter__(self) -> Region:
        self.start = self.end = (time.perf_counter(), time.process_time())
        return self

    def __exit__(self, *_exc: object) -> None:
        self.end = (time.perf_counter(), time.process_time())

    def figures(self) -> Result:
        """The region's wall and CPU seconds."""
        return {"wall_seconds": self.end[0] - self.start[0],
                "cpu_seconds": self.end[1] - self.start[1]}
