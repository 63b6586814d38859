"""TensorBoard event files of a run: written live (`--tensorboard`) or exported afterwards.

Both ways write the same scalars with the same tags and steps, from the same sources:

- per epoch, at step = the epoch number (as history.csv counts it): `Loss/train`,
  `Loss/val`, `Accuracy/train`, `Accuracy/val`, `LR`, and `Metrics/NAME` for every other
  column a run logs (the values of history.csv's row);
- per step, at step = the global step: `Loss/train_step`, the step losses the run's
  events.jsonl carries (read at the throttle points: no extra device syncs; every step's
  own while a half-second progress line holds at most 16, else means of neighbouring
  steps), and `Step/NAME` for other step metrics a run of your own code logs (their mean
  since the previous progress line);
- at the end, at step = the last epoch: `Test/accuracy`, `Test/precision`, `Test/recall`,
  `Test/f1` (weighted), the per-class scores and the confusion matrix as a Markdown table
  (`Test/results`) and, with matplotlib installed, as an image (`Test/confusion_matrix`);
- the run's config as a table (`Config`).

Live runs add, as the chapter trainui grew from does, weight and gradient histograms each
epoch (`Weights/NAME`, `Gradients/NAME`: the gradients of the epoch's last step); they
cannot be rebuilt from a run's files, so an export has none.
"""

from __future__ import annotations

import contextlib
import io
import math
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .callbacks.base import Callback
from .errors import TrainuiError, one_line
from .event_file import EVENT_LOG, read_events
from .events import EpochEnded, Event, Finished, Progress, RolledBack, RunStarted
from .extras import available
from .files import FileWriter
from .history import EPOCH_KEYS

if TYPE_CHECKING:
    from torch import nn

    from .loop import Loop
    from .run_results import RunResults

TENSORBOARD_DIR = "tensorboard"
EPOCH_TAGS = {"train_loss": "Loss/train", "val_loss": "Loss/val", "train_acc": "Accuracy/train",
              "val_acc": "Accuracy/val", "lr": "LR"}
STEP_LOSS_TAG = "Loss/train_step"
TEST_TAGS = {"accuracy": "Test/accuracy", "precision": "Test/precision",
             "recall": "Test/recall", "f1": "Test/f1"}
NOT_CHARTED = frozenset({"epoch", "epoch_time", "samples_per_second"})
"""History columns left out: the clock, not the model (history.csv keeps them)."""

HISTOGRAM_BINS = 64
"""Buckets per histogram: TensorBoard's own default is 30; torch's "tensorflow" bins give
hundreds, megabytes per epoch for a ResNet."""

Scalar = tuple[str, int, float]
"""(tag, step, value)"""


def epoch_scalars(row: Mapping[str, Any]) -> list[Scalar]:
    """The scalars of one history row (an epoch), at step = its epoch."""
    epoch = int(row["epoch"])
    scalars = []
    for key, value in row.items():
        if key in NOT_CHARTED or not _number(value):
            continue
        scalars.append((EPOCH_TAGS.get(key, f"Metrics/{key}"), epoch, float(value)))
    return scalars


def step_scalars(event: Progress) -> list[Scalar]:
    """The per-step scalars a progress event carries."""
    scalars = [(STEP_LOSS_TAG, int(step), float(loss)) for step, loss in event.step_losses
               if _number(loss)]
    scalars += [(f"Step/{name}", event.global_step, float(value))
                for name, value in event.metrics.items() if _number(value)]
    return scalars


def test_scalars(results: RunResults) -> list[Scalar]:
    """The test metrics of a run, at step = its last epoch."""
    step = results.epochs_done
    scalars = []
    for key, tag in TEST_TAGS.items():
        value = results.test(key)
        if value is not None and math.isfinite(value):
            scalars.append((tag, step, value))
    return scalars


def _number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


class TensorBoardLog:
    """A TensorBoard event file being written (torch's SummaryWriter)."""

    def __init__(self, log_dir: Path, *, purge_step: int | None = None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        try:
            self.writer = SummaryWriter(str(log_dir), purge_step=purge_step, flush_secs=30)
        except OSError as exc:
            raise TrainuiError(f"cannot write TensorBoard files to {log_dir}: "
                               f"{exc.strerror or exc}") from None

    def scalars(self, scalars: Iterable[Scalar], walltime: float | None = None) -> None:
        """Add scalars (float32 in the file, as TensorBoard stores them)."""
        for tag, step, value in scalars:
            self.writer.add_scalar(tag, value, step, walltime=walltime)

    def config(self, config: Mapping[str, Any], walltime: float | None = None) -> None:
        """The run's config as a two-column table."""
        if config:
            rows = "\n".join(f"| {key} | {_cell(value)} |" for key, value in config.items())
            self.writer.add_text("Config", "| setting | value |\n|---|---|\n" + rows, 0,
                                 walltime=walltime)

    def results(self, results: RunResults, walltime: float | None = None) -> None:
        """Test metrics, per-class scores and the confusion matrix of a finished run."""
        if results.metrics is None:
            return
        from .result_tables import export_table

        step = results.epochs_done
        self.scalars(test_scalars(results), walltime)
        self.writer.add_text("Test/results", export_table([results], "markdown"), step,
                             walltime=walltime)
        matrix = results.confusion_matrix
        if matrix is not None and available("matplotlib"):
            try:
                image = _matrix_image(matrix, results)
            except (ImportError, ValueError, RuntimeError) as exc:  # a picture less
                print(f"trainui: warning: no confusion-matrix image in TensorBoard: "
                      f"{one_line(exc)}", file=sys.stderr)
                return
            self.writer.add_image("Test/confusion_matrix", image, step, walltime=walltime,
                                  dataformats="HWC")

    def histograms(self, model: nn.Module, epoch: int) -> None:
        """Weights and gradients of every parameter (finite ones: a histogram of NaNs
        has no bins)."""
        for name, parameter in model.named_parameters():
            weights = parameter.detach()
            if weights.numel() and bool(weights.isfinite().all()):
                self.writer.add_histogram(f"Weights/{name}", weights.float().cpu(), epoch,
                                          bins=HISTOGRAM_BINS)
            grad = parameter.grad
            if grad is not None and grad.numel() and bool(grad.isfinite().all()):
                self.writer.add_histogram(f"Gradients/{name}", grad.float().cpu(), epoch,
                                          bins=HISTOGRAM_BINS)

    def flush(self) -> None:
        """Make what was added visible to TensorBoard."""
        self.writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.close()


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _matrix_image(matrix: list[list[int]], results: RunResults) -> Any:
    import numpy as np
    from PIL import Image

    from .plots import confusion_matrix_figure, png_bytes

    figure = confusion_matrix_figure(matrix, results.class_names,
                                     title=f"Confusion matrix: {results.name}")
    with Image.open(io.BytesIO(png_bytes(figure))) as image:
        return np.asarray(image.convert("RGB"))


class TensorBoardSink(Callback):
    """Writes a live run to RUN_DIR/tensorboard: a sink of the run's events (epoch rows,
    the end), a listener of the lines written to events.jsonl (step losses, as an export
    reads them back) and a callback (histograms at each epoch end)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.log: TensorBoardLog | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._start(event)
        elif self.log is None:
            return
        elif isinstance(event, EpochEnded):
            row = {key: getattr(event, key) for key in EPOCH_KEYS}
            self.log.scalars(epoch_scalars({**row, **event.metrics}), event.time)
            self.log.flush()
        elif isinstance(event, Finished):
            from .run_results import load_results

            self.log.results(load_results(self.run_dir), event.time)
            self.log.flush()

    def written(self, event: Event, offset: int) -> None:
        """A line went into events.jsonl: its step losses go to TensorBoard."""
        if isinstance(event, Progress) and self.log is not None:
            self.log.scalars(step_scalars(event), event.time)

    def _start(self, event: RunStarted) -> None:
        if self.log is not None:
            return
        resumed_at = event.start_epoch * event.steps_per_epoch
        # A resumed run drops what the killed session logged after its checkpoint.
        self.log = TensorBoardLog(self.run_dir / TENSORBOARD_DIR,
                                  purge_step=resumed_at + 1 if resumed_at else None)
        if not resumed_at:
            self.log.config(event.config, event.time)

    def on_epoch_end(self, loop: Loop, metrics: dict[str, float]) -> None:
        """Weight and gradient histograms of the epoch."""
        if self.log is not None:
            self.log.histograms(loop.model, loop.epoch)

    def teardown(self, loop: Loop) -> None:
        """Close the event file, however the run ends."""
        self.close()

    def close(self) -> None:
        """Flush and close (once)."""
        if self.log is not None:
            self.log.close()
            self.log = None


EXPORT_MARKER = ".trainui-export"
"""In a folder `trainui export --tensorboard` wrote: a later export may replace its files
(a run exported while it trained, exported again once it ended)."""


def export_folders(runs: Sequence[RunResults], target: Path | None) -> list[Path]:
    """Where each run's export goes: `target` for one run, `target/RUN_NAME` for several,
    else RUN_DIR/tensorboard. Every folder is checked before anything is written, so a
    refused one leaves no half-done export behind."""
    if target is None:
        folders = [run.run_dir / TENSORBOARD_DIR for run in runs]
    elif len(runs) == 1:
        folders = [target]
    else:
        folders = [target / run.name for run in runs]
    seen: dict[Path, RunResults] = {}
    for run, folder in zip(runs, folders, strict=True):
        key = folder.resolve()
        if key in seen:
            raise TrainuiError(f"{seen[key].run_dir} and {run.run_dir} would both be "
                               f"exported to {folder}: export them one at a time")
        seen[key] = run
    made: list[Path] = []
    try:
        for run, folder in zip(runs, folders, strict=True):
            if not folder.exists():
                made.append(folder)
            check_export_folder(folder, run)
    except TrainuiError:
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()  # made by the check, still empty
        raise
    return folders


def check_export_folder(folder: Path, run: RunResults) -> None:
    """TrainuiError unless `folder` can take the run's export: a folder trainui's live
    writer filled is refused, one that cannot be written too."""
    if _has_event_files(folder) and not (folder / EXPORT_MARKER).exists():
        raise TrainuiError(f"{folder} holds TensorBoard files already (written live by "
                           f"--tensorboard, or by another program); export to another "
                           f"folder: trainui export {run.run_dir} --tensorboard DIR")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass  # TensorBoard's own writer thread would fail later, and loudly
    except OSError as exc:
        raise TrainuiError(f"cannot write TensorBoard files to {folder}: "
                           f"{exc.strerror or exc}") from None


def export_tensorboard(results: RunResults, target: Path | None = None) -> Path:
    """Write a run's TensorBoard files from its history and events.jsonl into `target`
    (default RUN_DIR/tensorboard); return the folder. The files of an earlier export there
    are replaced; a folder with other TensorBoard files is refused (the two would be drawn
    on top of each other)."""
    folder = target if target is not None else results.run_dir / TENSORBOARD_DIR
    check_export_folder(folder, results)
    for old in folder.glob("events.out.tfevents*"):
        old.unlink()
    FileWriter(folder).write_text(EXPORT_MARKER, f"{results.run_dir.resolve()}\n")
    log = TensorBoardLog(folder)
    try:
        log.config(results.config)
        log.scalars(_export_steps(results.run_dir / EVENT_LOG))
        for row in results.rows:
            if row.get("epoch") is not None:
                log.scalars(epoch_scalars(row))
        log.results(results)
    finally:
        log.close()
    return folder


def _has_event_files(folder: Path) -> bool:
    try:
        return any(path.name.startswith("events.out.tfevents") for path in folder.iterdir())
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise TrainuiError(f"cannot write TensorBoard files to {folder}: "
                           f"{exc.strerror or exc}") from None


def _export_steps(log: Path) -> list[Scalar]:
    """The step scalars of events.jsonl, as the run stands: a resumed session drops the
    steps its killed predecessor logged after the checkpoint it resumed from."""
    scalars: list[Scalar] = []
    try:
        events = list(read_events(log))
    except FileNotFoundError:
        return []
    for event in events:
        if isinstance(event, RunStarted) and event.start_epoch:
            resumed_at = event.start_epoch * event.steps_per_epoch
            scalars = [s for s in scalars if s[1] <= resumed_at]
        elif isinstance(event, RolledBack):
            scalars = [s for s in scalars if s[1] <= event.to_step]
        elif isinstance(event, Progress):
            scalars += step_scalars(event)
    return scalars
