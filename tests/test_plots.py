"""`trainui plot` and trainui.core.plots: history.png and confusion_matrix.png, decoded with
Pillow and checked as pictures (size, not blank, both lines drawn), for runs built by hand
(edge cases) and for a real run through the command line."""

from __future__ import annotations

import io
import math
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageStat

from conftest import RunTrainui
from trainui.core.errors import TrainuiError
from trainui.core.outcome import RunState
from trainui.core.plots import (
    BEST_COLOR,
    TRAIN,
    VAL,
    confusion_matrix_figure,
    history_figure,
    png_bytes,
    write_plots,
)
from trainui.core.run_results import RunResults

CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck"]
HIDE_MATPLOTLIB = """
import importlib.abc, sys

class HideMatplotlib(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "matplotlib":
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, HideMatplotlib())
"""


# ---- helpers ---------------------------------------------------------------------------


def rows(epochs: int, *, first_loss: float = 2.3, accuracy: bool = True,
         lrs: list[float] | None = None) -> list[dict[str, float | None]]:
    """A made-up history: losses falling from `first_loss`, accuracies rising."""
    return [{"epoch": epoch, "train_loss": first_loss / epoch ** 2,
             "val_loss": first_loss / epoch ** 1.5 + 0.05,
             "train_acc": 1 - 0.5 / epoch if accuracy else None,
             "val_acc": 1 - 0.6 / epoch if accuracy else None,
             "lr": lrs[epoch - 1] if lrs else 1e-3, "epoch_time": 1.0,
             "samples_per_second": 100.0}
            for epoch in range(1, epochs + 1)]


def results(tmp_path: Path, history: list[dict[str, Any]], *, matrix: bool = True,
            **fields: Any) -> RunResults:
    """A run's results built by hand (no training), in `tmp_path/digits-cnn`."""
    run_dir = tmp_path / "digits-cnn"
    run_dir.mkdir(exist_ok=True)
    metrics = {"accuracy": 0.9, "class_names": ["0", "1", "2"],
               "confusion_matrix": [[9, 1, 0], [0, 10, 0], [2, 0, 8]]} if matrix else None
    return RunResults(run_dir=run_dir, state=RunState.FINISHED, rows=history, metrics=metrics,
                      **fields)


def picture(data: bytes | Path) -> Image.Image:
    """A PNG decoded to RGB, after checking it is one."""
    with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as image:
        assert image.format == "PNG"
        return image.convert("RGB")


def check_picture(image: Image.Image, width: tuple[int, int], height: tuple[int, int]) -> None:
    """Size within the ranges; not blank: many colours, and the middle is not uniform."""
    assert width[0] <= image.width <= width[1] and height[0] <= image.height <= height[1]
    assert len(image.getcolors(maxcolors=1 << 16) or range(1 << 16)) > 10
    middle = image.crop((image.width // 8, image.height // 8, image.width * 7 // 8,
                         image.height * 7 // 8))
    assert max(ImageStat.Stat(middle).stddev) > 10
    [(low, high)] = ImageStat.Stat(middle.convert("L")).extrema
    assert high - low > 100


def pixels(image: Image.Image, color: str, box: tuple[int, int, int, int] | None = None) -> int:
    """How many pixels (in `box`) are about `color` ("#RRGGBB")."""
    area = np.asarray(image.crop(box) if box else image, dtype=np.int32)
    rgb = np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(area - rgb).max(axis=2) <= 30).sum())


def halves(image: Image.Image) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """The boxes of the left (loss) and right (accuracy) panels, the legend under them
    left out."""
    bottom = image.height * 88 // 100
    return (0, 0, image.width // 2, bottom), (image.width // 2, 0, image.width, bottom)


def legend_texts(figure: Any) -> list[str]:
    """The entries of the legend under the panels."""
    return [text.get_text() for legend in figure.legends for text in legend.get_texts()]


def cm_matrix(classes: int, per_class: int = 100) -> list[list[int]]:
    """A confusion matrix: 70% of each class right, the rest spread evenly."""
    matrix = [[(per_class * 3 // 10) // classes] * classes for _ in range(classes)]
    for index in range(classes):
        matrix[index][index] += per_class * 7 // 10
    return matrix


# ---- history.png -----------------------------------------------------------------------


def test_history_draws_train_and_val_in_both_panels(tmp_path: Path) -> None:
    """About 1200x450 px, small, not blank; the train and the validation colours in the
    loss panel and in the accuracy panel."""
    data = png_bytes(history_figure(results(tmp_path, rows(8))))
    assert len(data) < 150_000
    image = picture(data)
    check_picture(image, (1100, 1300), (400, 500))
    for box in halves(image):
        assert pixels(image, TRAIN["color"], box) > 150
        assert pixels(image, VAL["color"], box) > 150


def test_history_axes_titles_and_scales(tmp_path: Path) -> None:
    """Loss and accuracy panels against the epoch (integer ticks), accuracy in percent, the
    run's name in the title, a linear loss axis for a loss that spans less than 2 decades."""
    figure = history_figure(results(tmp_path, rows(8)))
    loss, accuracy = figure.axes
    assert [loss.get_title(), accuracy.get_title()] == ["Loss", "Accuracy"]
    assert loss.get_xlabel() == accuracy.get_xlabel() == "epoch"
    assert accuracy.get_ylabel() == "accuracy (%)" and loss.get_yscale() == "linear"
    assert all(tick == int(tick) for tick in loss.get_xticks())
    assert max(accuracy.lines[0].get_ydata()) == pytest.approx(100 * (1 - 0.5 / 8))
    assert "digits-cnn" in figure.get_suptitle()
    assert legend_texts(figure)[:2] == ["train", "validation"]
    styles = {(line.get_color(), line.get_linestyle(), line.get_marker()) for line in loss.lines}
    assert len(styles) == 2  # told apart by line style and marker, not by colour alone


def test_best_epoch_and_lr_changes_are_marked(tmp_path: Path) -> None:
    """A dashed line at the best epoch with its legend entry; a dotted line and a label
    `LR 1e-4` at each LR change."""
    lrs = [1e-3] * 4 + [1e-4] * 3 + [1e-5] * 3
    run = results(tmp_path, rows(10, lrs=lrs), best_epoch=7, best_monitor="val_loss",
                  best_value=0.0521)
    figure = history_figure(run)
    loss = figure.axes[0]
    assert "best epoch 7 (val_loss 0.05210)" in legend_texts(figure)
    assert "LR change" in legend_texts(figure)
    assert [text.get_text().strip() for text in loss.texts] == ["LR 1e-4", "LR 1e-5"]
    assert {line.get_xdata()[0] for line in loss.lines if line.get_linestyle() == ":"} == {5, 8}
    image = picture(png_bytes(figure))
    for box in halves(image):
        assert pixels(image, BEST_COLOR, box) > 100


def test_a_schedule_that_changes_lr_every_epoch_draws_the_lr_curve(tmp_path: Path) -> None:
    """Cosine: the LR on a right-hand axis instead of a dotted line per epoch."""
    lrs = [0.05 * (1 + math.cos(math.pi * epoch / 12)) + 1e-4 for epoch in range(12)]
    figure = history_figure(results(tmp_path, rows(12, lrs=lrs)))
    assert len(figure.axes) == 3 and figure.axes[2].get_ylabel() == "LR"
    assert len(figure.axes[0].texts) == 0 and "LR (right axis)" in legend_texts(figure)
    check_picture(picture(png_bytes(figure)), (1100, 1300), (400, 500))


def test_a_huge_first_loss_gets_a_log_scale(tmp_path: Path) -> None:
    """First epoch 369, last about 0.05: the loss axis is logarithmic."""
    figure = history_figure(results(tmp_path, rows(30, first_loss=369)))
    assert figure.axes[0].get_yscale() == "log"
    image = picture(png_bytes(figure))
    assert pixels(image, TRAIN["color"], halves(image)[0]) > 300


def test_a_single_epoch_is_visible(tmp_path: Path) -> None:
    """One epoch: one point per series, drawn as markers, one tick on the epoch axis."""
    figure = history_figure(results(tmp_path, rows(1), best_epoch=1, best_monitor="val_loss",
                                    best_value=2.35))
    assert list(figure.axes[0].get_xticks()) == [1]
    image = picture(png_bytes(figure))
    check_picture(image, (1100, 1300), (400, 500))
    for box in halves(image):
        assert pixels(image, TRAIN["color"], box) > 15
        assert pixels(image, VAL["color"], box) > 15


def test_no_accuracy_and_no_other_metric_says_so(tmp_path: Path) -> None:
    """A run of your own code that logs only losses: the right panel says so, no crash."""
    figure = history_figure(results(tmp_path, rows(4, accuracy=False)))
    assert [text.get_text() for text in figure.axes[1].texts] == ["no accuracy logged"]
    image = picture(png_bytes(figure))
    left, right = halves(image)
    assert pixels(image, TRAIN["color"], left) > 100
    assert pixels(image, TRAIN["color"], right) == pixels(image, VAL["color"], right) == 0


def test_without_accuracy_the_other_metrics_are_shown(tmp_path: Path) -> None:
    """No accuracy but `val_f1` and `grad_norm` logged: those fill the right panel, with
    their own legend."""
    history = rows(4, accuracy=False)
    for index, row in enumerate(history):
        row.update(val_f1=0.5 + index / 10, grad_norm=3.0 - index / 2)
    figure = history_figure(results(tmp_path, history))
    other = figure.axes[1]
    assert other.get_title() == "Other metrics"
    assert [text.get_text() for text in other.get_legend().get_texts()] == ["val_f1", "grad_norm"]
    assert "val_f1" not in legend_texts(figure)
    check_picture(picture(png_bytes(figure)), (1100, 1300), (400, 500))


def test_missing_and_non_finite_values_never_crash(tmp_path: Path) -> None:
    """A diverged run (nan, inf) and a column missing at some epochs still draw."""
    history = rows(5)
    history[2].update(train_loss=math.nan, val_loss=math.inf)
    history[3].update(val_acc=None)
    history[4].update(train_loss=None)
    check_picture(picture(png_bytes(history_figure(results(tmp_path, history)))),
                  (1100, 1300), (400, 500))
    no_loss = [{**row, "train_loss": None, "val_loss": None} for row in rows(3)]
    figure = history_figure(results(tmp_path, no_loss))
    assert [text.get_text() for text in figure.axes[0].texts] == ["no loss logged"]
    assert "train" in legend_texts(figure)  # from the accuracy panel


def test_figures_render_side_by_side_in_threads(tmp_path: Path) -> None:
    """No pyplot state: figures built and rendered in several threads at once."""
    run = results(tmp_path, rows(6))
    with ThreadPoolExecutor(max_workers=4) as pool:
        images = list(pool.map(lambda _: png_bytes(history_figure(run)), range(4)))
    for data in images:
        check_picture(picture(data), (1100, 1300), (400, 500))


# ---- confusion_matrix.png --------------------------------------------------------------


def test_confusion_matrix_with_cifar_names(tmp_path: Path) -> None:
    """10 classes: about 7x6 in, every cell annotated with its count, long names slanted,
    white text on the dark diagonal, axis labels and colorbar label."""
    matrix = cm_matrix(10, 1000)
    figure = confusion_matrix_figure(matrix, CIFAR10, title="Confusion matrix: cifar")
    axes = figure.axes[0]
    assert tuple(figure.get_size_inches()) == pytest.approx((7, 6), abs=0.5)
    assert [label.get_text() for label in axes.get_xticklabels()] == CIFAR10
    assert all(label.get_rotation() == 45 for label in axes.get_xticklabels())
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("predicted", "true")
    assert figure.axes[1].get_ylabel() == "share of the true class"
    cells = {tuple(map(round, text.get_position())): text for text in axes.texts}
    assert len(cells) == 100 and cells[(0, 0)].get_text() == str(matrix[0][0])
    assert cells[(0, 0)].get_color() == "white" and cells[(1, 0)].get_color() == "black"
    image = picture(png_bytes(figure))
    check_picture(image, (600, 800), (500, 700))


def test_confusion_matrix_shading_is_row_normalised() -> None:
    """Each true class's row divided by its total; a row without samples stays 0."""
    figure = confusion_matrix_figure([[3, 1], [0, 0]], ["cat", "dog"])
    shares = np.asarray(figure.axes[0].images[0].get_array())
    assert shares.tolist() == [[0.75, 0.25], [0.0, 0.0]]
    assert all(label.get_rotation() == 0 for label in figure.axes[0].get_xticklabels())
    check_picture(picture(png_bytes(figure)), (400, 800), (300, 700))


def test_confusion_matrix_of_100_classes_stays_legible() -> None:
    """100 classes: no per-cell counts, upright names, a bigger figure, still small."""
    names = [f"class_{index:02d}" for index in range(100)]
    figure = confusion_matrix_figure(cm_matrix(100), names)
    axes = figure.axes[0]
    assert len(axes.texts) == 0
    assert all(label.get_rotation() == 90 for label in axes.get_xticklabels())
    assert min(label.get_fontsize() for label in axes.get_yticklabels()) >= 5
    data = png_bytes(figure)
    assert len(data) < 150_000
    check_picture(picture(data), (1000, 1500), (900, 1400))


def test_confusion_matrix_without_matching_names_uses_indices() -> None:
    """Class names missing (or not one per class): the indices label the axes."""
    figure = confusion_matrix_figure([[1, 0, 0], [0, 1, 0], [0, 0, 1]], [])
    assert [label.get_text() for label in figure.axes[0].get_yticklabels()] == ["0", "1", "2"]


# ---- write_plots -----------------------------------------------------------------------


def test_write_plots_into_the_run_directory(tmp_path: Path) -> None:
    """Both files, written atomically (no temporary file left), their paths returned."""
    run = results(tmp_path, rows(3))
    paths = write_plots(run)
    assert paths == [run.run_dir / "history.png", run.run_dir / "confusion_matrix.png"]
    assert sorted(os.listdir(run.run_dir)) == ["confusion_matrix.png", "history.png"]
    check_picture(picture(paths[0]), (1100, 1300), (400, 500))
    check_picture(picture(paths[1]), (400, 800), (300, 700))


def test_write_plots_creates_the_output_folder(tmp_path: Path) -> None:
    """`output` that does not exist yet: created, parents too."""
    output = tmp_path / "figures" / "nested"
    paths = write_plots(results(tmp_path, rows(3)), output)
    assert [path.parent for path in paths] == [output, output]
    assert all(path.is_file() for path in paths)


def test_a_run_without_test_evaluation_gets_history_only(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No confusion matrix (still running, or stopped before the evaluation): history.png
    and one note line on stderr."""
    run = results(tmp_path, rows(2), matrix=False)
    run.state = RunState.RUNNING
    assert write_plots(run) == [run.run_dir / "history.png"]
    assert capsys.readouterr().err == (f"trainui: note: {run.run_dir} has no test evaluation"
                                       ": confusion_matrix.png not written\n")


def test_a_run_without_a_finished_epoch_is_an_error(tmp_path: Path) -> None:
    """No epoch in the history: a TrainuiError, nothing written."""
    run = results(tmp_path, [], matrix=False)
    with pytest.raises(TrainuiError, match=r"digits-cnn has no finished epoch to plot yet$"):
        write_plots(run)
    assert list(run.run_dir.iterdir()) == []


def test_an_output_that_cannot_be_written_is_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file where the folder should be, or no permission: TrainuiError naming the folder."""
    run = results(tmp_path, rows(2))
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(TrainuiError, match=r"^cannot write plots to .*file: it is not a"):
        write_plots(run, blocker)
    with pytest.raises(TrainuiError, match=r"^cannot write plots to .*file/sub: Not a dir"):
        write_plots(run, blocker / "sub")

    def refuse(*args: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("trainui.core.files._atomic_write", refuse)
    with pytest.raises(TrainuiError, match=r"^cannot write plots to .*out: permission denied$"):
        write_plots(run, tmp_path / "out")


def test_import_without_matplotlib_and_no_pyplot(tmp_path: Path) -> None:
    """trainui.core.plots imports where matplotlib is missing; where it is there, drawing
    never loads pyplot (no global figure state, no GUI backend)."""
    (tmp_path / "sitecustomize.py").write_text(textwrap.dedent(HIDE_MATPLOTLIB))
    probe = "import sys, trainui.core.plots; print('matplotlib' in sys.modules)"
    hidden = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(tmp_path)}, timeout=120)
    assert (hidden.returncode, hidden.stdout) == (0, "False\n"), hidden.stderr
    draw = ("import sys\nfrom trainui.core.plots import confusion_matrix_figure, png_bytes\n"
            "png_bytes(confusion_matrix_figure([[1, 0], [0, 1]], ['a', 'b']))\n"
            "print('matplotlib.pyplot' in sys.modules)")
    drawn = subprocess.run([sys.executable, "-c", draw], capture_output=True, text=True,
                           timeout=120)
    assert (drawn.returncode, drawn.stdout) == (0, "False\n"), drawn.stderr


# ---- the command line, on a real run ---------------------------------------------------


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 2-epoch run of the default CNN, trained once for this file's tests."""
    from conftest import run_trainui

    run_dir = tmp_path_factory.mktemp("plots") / "run"
    result = run_trainui(["--headless", "--epochs", "2", "--run-dir", run_dir])
    assert result.returncode == 0, result.stderr
    return run_dir


@pytest.mark.slow
def test_trainui_plot_writes_into_the_run_directory(real_run: Path,
                                                    trainui_cli: RunTrainui) -> None:
    """`trainui plot RUN_DIR`: exit 0, the two paths printed, both pictures real."""
    result = trainui_cli(["plot", real_run])
    assert result.returncode == 0, result.stderr
    paths = [real_run / "history.png", real_run / "confusion_matrix.png"]
    assert result.stdout.splitlines() == [str(path) for path in paths]
    history = picture(paths[0])
    check_picture(history, (1100, 1300), (400, 500))
    for box in halves(history):
        assert pixels(history, TRAIN["color"], box) > 50
        assert pixels(history, VAL["color"], box) > 50
    check_picture(picture(paths[1]), (600, 800), (500, 700))


@pytest.mark.slow
def test_trainui_plot_output(real_run: Path, trainui_cli: RunTrainui, tmp_path: Path) -> None:
    """`--output DIR`: the folder is created, the run directory left as it was."""
    before = sorted(os.listdir(real_run))
    output = tmp_path / "figures" / "digits"
    result = trainui_cli(["plot", real_run, "--output", output])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [str(output / "history.png"),
                                          str(output / "confusion_matrix.png")]
    assert sorted(os.listdir(output)) == ["confusion_matrix.png", "history.png"]
    assert sorted(os.listdir(real_run)) == before


@pytest.mark.slow
def test_trainui_plot_of_a_folder_that_is_not_a_run(tmp_path: Path,
                                                    trainui_cli: RunTrainui) -> None:
    """Exit 2, one line on stderr, no traceback, nothing written."""
    (tmp_path / "notes.txt").write_text("hello")
    result = trainui_cli(["plot", tmp_path])
    assert result.returncode == 2
    assert result.stderr.startswith("trainui: error:") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert os.listdir(tmp_path) == ["notes.txt"]


@pytest.mark.slow
def test_trainui_plot_without_matplotlib(real_run: Path, trainui_cli: RunTrainui,
                                         tmp_path: Path) -> None:
    """matplotlib hidden: exit 2 at once, one line naming the extra, nothing written."""
    (tmp_path / "sitecustomize.py").write_text(textwrap.dedent(HIDE_MATPLOTLIB))
    before = sorted(os.listdir(real_run))
    result = trainui_cli(["plot", real_run, "--output", tmp_path / "out"], pythonpath=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("trainui: error:")
    assert "pip install 'trainui[plots]'" in result.stderr
    assert sorted(os.listdir(real_run)) == before and not (tmp_path / "out").exists()
