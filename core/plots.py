"""A run drawn as PNG files: history.png (loss and accuracy per epoch) and
confusion_matrix.png (the test split's), for `trainui plot` and `trainui train --plots`.

matplotlib is an optional extra (`pip install 'trainui[plots]'`): it is imported inside the
functions only, so this module imports without it. Figures are built with
`matplotlib.figure.Figure` and rendered with the Agg canvas, never through pyplot: no global
state, no window, safe from any thread.
"""

from __future__ import annotations

import io
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import formats
from .errors import TrainuiError
from .files import FileWriter
from .run_results import RunResults

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

HISTORY_PNG = "history.png"
MATRIX_PNG = "confusion_matrix.png"
DPI = 100

# Okabe-Ito colours (told apart with colour blindness), and a line style and marker each.
TRAIN: dict[str, Any] = {"color": "#0072B2", "linestyle": "-", "marker": "o", "label": "train"}
VAL: dict[str, Any] = {"color": "#D55E00", "linestyle": "--", "marker": "s", "label": "validation"}
BEST_COLOR = "#009E73"
LR_COLOR = "#666666"
OTHER_COLORS = ("#CC79A7", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#000000")
OTHER_MARKERS = ("o", "s", "^", "D", "v", "P")
LOG_SCALE_SPAN = 100.0
"""Loss spanning more than this factor (two decades) gets a log-scale axis."""
MAX_LR_LABELS = 6
"""More LR changes than this (a cosine schedule): the LR curve instead of a line each."""
MAX_ANNOTATED = 30
"""Confusion matrices with more classes than this show no per-cell counts."""


def write_plots(results: RunResults, output: Path | None = None) -> list[Path]:
    """Write history.png and confusion_matrix.png into `output` (default the run directory)."""
    if not any(row.get("epoch") is not None for row in results.rows):
        raise TrainuiError(f"{results.run_dir} has no finished epoch to plot yet")
    folder = Path(output) if output is not None else results.run_dir
    _make_folder(folder)
    images = {HISTORY_PNG: png_bytes(history_figure(results))}
    matrix = results.confusion_matrix
    if matrix is not None:
        figure = confusion_matrix_figure(matrix, results.class_names,
                                         f"Confusion matrix: {results.name}")
        images[MATRIX_PNG] = png_bytes(figure)
    paths = _write(folder, images)
    if matrix is None:
        print(f"trainui: note: {results.run_dir} has no test evaluation: "
              f"{MATRIX_PNG} not written", file=sys.stderr)
    return paths


def _make_folder(folder: Path) -> None:
    """Create the output folder (parents too), or raise TrainuiError."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise TrainuiError(f"cannot write plots to {folder}: it is not a directory") from None
    except OSError as exc:
        raise _write_error(folder, exc) from None


def _write(folder: Path, images: dict[str, bytes]) -> list[Path]:
    """Write each image atomically (a crash leaves no half-written PNG); their paths."""
    writer = FileWriter(folder)
    try:
        return [writer.write_bytes(name, data) for name, data in images.items()]
    except OSError as exc:
        raise _write_error(folder, exc) from None


def _write_error(folder: Path, exc: OSError) -> TrainuiError:
    reason = "permission denied" if isinstance(exc, PermissionError) else exc.strerror or exc
    return TrainuiError(f"cannot write plots to {folder}: {reason}")


def png_bytes(figure: Figure) -> bytes:
    """Render `figure` to PNG bytes with the Agg canvas, then free it.

    The image is stored with a palette of 256 colours: the same picture to the eye, a
    third of the size (a 30-class matrix of counts: 90 kB instead of 240).
    """
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    image = Image.fromarray(np.asarray(canvas.buffer_rgba())).convert("RGB")
    figure.clear()
    buffer = io.BytesIO()
    image.quantize(256, dither=Image.Dither.NONE).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


# ---- history.png ---------------------------------------------------------------------


def history_figure(results: RunResults) -> Figure:
    """Loss (left) and accuracy (right) per epoch, train and validation, best epoch and LR
    changes marked."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 4.5), dpi=DPI, layout="constrained")
    loss_axes, right_axes = figure.subplots(1, 2)
    figure.suptitle(f"Training history: {results.name}", fontweight="bold")
    _loss_panel(loss_axes, results)
    _accuracy_panel(right_axes, results)
    _figure_legend(figure, [loss_axes, right_axes])
    return figure


def _figure_legend(figure: Figure, panels: list[Axes]) -> None:
    """One legend under both panels, for every entry not already in a panel's own legend."""
    entries: dict[str, Any] = {}
    for axes in panels:
        if axes.get_legend() is None:
            handles, labels = axes.get_legend_handles_labels()
            entries.update({label: handle for handle, label in zip(handles, labels, strict=True)
                            if label not in entries})
    if entries:
        figure.legend(list(entries.values()), list(entries), loc="outside lower center",
                      ncols=len(entries), frameon=False)


def _loss_panel(axes: Axes, results: RunResults) -> None:
    if not _draw_pair(axes, results, "train_loss", "val_loss", 1.0):
        _say(axes, "Loss", "no loss logged")
        return
    _epoch_axis(axes, results, "Loss", "loss")
    if _spans_decades(results):
        axes.set_yscale("log")
        axes.set_ylabel("loss (log scale)")
    _mark_best(axes, results)
    _mark_lr_changes(axes, results)


def _accuracy_panel(axes: Axes, results: RunResults) -> None:
    if _draw_pair(axes, results, "train_acc", "val_acc", 100.0):
        _epoch_axis(axes, results, "Accuracy", "accuracy (%)")
    elif _draw_others(axes, results):
        _epoch_axis(axes, results, "Other metrics", "value")
        axes.legend(loc="best", fontsize="small")
    else:
        _say(axes, "Accuracy", "no accuracy logged")
        return
    _mark_best(axes, results)


def _draw_pair(axes: Axes, results: RunResults, train: str, val: str, scale: float) -> bool:
    """Draw the train and validation series of one metric; whether any was drawn."""
    drawn = False
    for key, style in ((train, TRAIN), (val, VAL)):
        epochs, values = results.series(key)
        if epochs:
            axes.plot(epochs, [value * scale for value in values], linewidth=1.8,
                      markersize=5, **style)
            drawn = True
    return drawn


def _draw_others(axes: Axes, results: RunResults) -> bool:
    """Draw the metrics beyond the standard ones (a run of your own code); whether any."""
    drawn = 0
    for key in results.extra_columns():
        epochs, values = results.series(key)
        if epochs:
            axes.plot(epochs, values, label=key, linewidth=1.5, markersize=4,
                      color=OTHER_COLORS[drawn % len(OTHER_COLORS)],
                      marker=OTHER_MARKERS[drawn % len(OTHER_MARKERS)])
            drawn += 1
    return drawn > 0


def _epoch_axis(axes: Axes, results: RunResults, title: str, ylabel: str) -> None:
    from matplotlib.ticker import MaxNLocator

    axes.set_title(title)
    axes.set_xlabel("epoch")
    axes.set_ylabel(ylabel)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(True, alpha=0.3)
    epochs = {row["epoch"] for row in results.rows if row.get("epoch") is not None}
    if len(epochs) == 1:  # one tick, not 0.5, 0.6... 1.5
        epoch = float(epochs.pop() or 0)
        axes.set_xlim(epoch - 0.5, epoch + 0.5)
        axes.set_xticks([epoch])


def _spans_decades(results: RunResults) -> bool:
    values = [value for key in ("train_loss", "val_loss") for value in results.series(key)[1]
              if math.isfinite(value)]
    return bool(values) and min(values) > 0 and max(values) / min(values) > LOG_SCALE_SPAN


def _mark_best(axes: Axes, results: RunResults) -> None:
    if results.best_epoch is None:
        return
    text = f"best epoch {results.best_epoch}"
    if results.best_monitor and results.best_value is not None:
        value = formats.metric(results.best_monitor, results.best_value)
        text += f" ({results.best_monitor} {value})"
    axes.axvline(results.best_epoch, color=BEST_COLOR, linestyle="--", linewidth=1.5,
                 label=text)


def _mark_lr_changes(axes: Axes, results: RunResults) -> None:
    """A labelled dotted line at each LR change; the LR curve itself for a schedule that
    changes it more often (cosine, one-cycle)."""
    changes = results.lr_changes()
    if len(changes) > MAX_LR_LABELS:
        _lr_curve(axes, results)
        return
    for index, (epoch, lr) in enumerate(changes):
        axes.axvline(epoch, color=LR_COLOR, linestyle=":", linewidth=1,
                     label="LR change" if index == 0 else None)
        axes.text(epoch, 0.97, f"LR {_short(lr)} ", transform=axes.get_xaxis_transform(),
                  rotation=90, va="top", ha="right", fontsize=8, color=LR_COLOR)


def _lr_curve(axes: Axes, results: RunResults) -> None:
    epochs, lrs = results.series("lr")
    style: dict[str, Any] = {"color": LR_COLOR, "linestyle": ":", "linewidth": 1.5}
    twin = axes.twinx()
    twin.plot(epochs, lrs, **style)
    twin.set_ylabel("LR", color=LR_COLOR)
    twin.tick_params(axis="y", colors=LR_COLOR, labelsize=8)
    if min(lrs) > 0 and max(lrs) / min(lrs) > LOG_SCALE_SPAN:
        twin.set_yscale("log")
    axes.plot([], [], label="LR (right axis)", **style)  # its entry in the figure's legend


def _short(value: float) -> str:
    """1e-4 rather than 0.0001 or 1e-04; 0.01 and above as they are."""
    if value == 0 or 0.01 <= abs(value) < 1000:
        return f"{value:.3g}"
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def _say(axes: Axes, title: str, text: str) -> None:
    """An empty panel: `text` in its middle, no ticks."""
    axes.set_title(title)
    axes.set_xticks([])
    axes.set_yticks([])
    axes.text(0.5, 0.5, text, transform=axes.transAxes, ha="center", va="center",
              color="#777777", fontsize=12)


# ---- confusion_matrix.png ------------------------------------------------------------


def confusion_matrix_figure(matrix: list[list[int]], class_names: list[str],
                            title: str = "Confusion matrix") -> Figure:
    """The confusion matrix as an annotated heatmap: rows true classes, columns predicted
    ones, shaded by each true class's share."""
    import numpy as np
    from matplotlib.figure import Figure

    counts = np.asarray(matrix, dtype=np.int64).reshape(len(matrix), -1)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    classes = max(counts.shape)
    width = min(max(0.45 * classes + 2.5, 5.0), 14.0)
    figure = Figure(figsize=(width, width - 1), dpi=DPI, layout="constrained")
    axes = figure.subplots()
    image = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    figure.colorbar(image, ax=axes, shrink=0.8).set_label("share of the true class")
    axes.set_title(title, fontweight="bold")
    cell = 72 * (width - 2.5) / classes  # a cell's side in points, about
    _class_ticks(axes, counts.shape, class_names, cell)
    if classes <= MAX_ANNOTATED:
        digits = len(str(counts.max(initial=0)))
        _annotate(axes, counts, shares, _clamp(min(0.45 * cell, 1.4 * cell / digits), 5, 10))
    return figure


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _class_ticks(axes: Axes, shape: tuple[int, ...], class_names: list[str],
                 cell: float) -> None:
    rows, columns = shape
    size = _clamp(0.7 * cell, 5, 10)
    names = [str(name) for name in class_names]
    axes.set_xticks(range(columns), _names(names, columns), fontsize=size)
    axes.set_yticks(range(rows), _names(names, rows), fontsize=size)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if max(map(len, _names(names, columns)), default=0) * 0.6 * size > 0.9 * cell:
        # Names wider than their column: slanted, or upright where the columns are narrow.
        steep = max(shape) > MAX_ANNOTATED
        axes.tick_params(axis="x", labelrotation=90 if steep else 45)
        for label in axes.get_xticklabels():
            label.set_horizontalalignment("center" if steep else "right")
            label.set_rotation_mode("default" if steep else "anchor")


def _names(names: list[str], count: int) -> list[str]:
    """The class names, or the class indices where they do not match the matrix."""
    return names if len(names) == count else [str(index) for index in range(count)]


def _annotate(axes: Axes, counts: Any, shares: Any, size: float) -> None:
    cmap = axes.images[0].cmap
    rows, columns = counts.shape
    for row in range(rows):
        for column in range(columns):
            count = int(counts[row, column])
            axes.text(column, row, str(count), ha="center", va="center", fontsize=size,
                      color=_text_color(cmap(shares[row, column]), count))


def _text_color(rgba: tuple[float, ...], count: int) -> str:
    """White on dark cells, black on light ones, grey for the zeros."""
    if count == 0:
        return "#A0A0A0"
    red, green, blue = rgba[:3]
    return "white" if 0.299 * red + 0.587 * green + 0.114 * blue < 0.5 else "black"
