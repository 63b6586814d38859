"""`trainui compare` and the picker of `trainui runs`: the compare data on run directories
written directly, Pilot tests of the keys, and the command line on real short runs."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static

from compare_fixtures import add_events, epoch_event, row, three_runs, write_run
from trainui.core.compare_tables import compare_table, records
from trainui.core.errors import TrainuiError
from trainui.core.outcome import RunState
from trainui.core.run_compare import (
    RunFiles,
    best,
    config_differences,
    goal,
    load_runs,
    shared_metrics,
)
from trainui.core.run_dir import RunLock
from trainui.core.run_index import latest_run, list_run, listing_table
from trainui.core.run_results import RunResults
from tui_fixtures import async_test

RunTrainui = Callable[..., subprocess.CompletedProcess[str]]


def results(rows: Sequence[Mapping[str, float | None]], **config: object) -> RunResults:
    """Results made up in memory: `rows` as the history, `config` as config.json."""
    return RunResults(run_dir=Path("runs") / "run", state=RunState.FINISHED,
                      config=dict(config), rows=[dict(values) for values in rows])


# The compare data --------------------------------------------------------------------


def test_shared_metrics_validation_first_own_metrics_then_how_it_trained() -> None:
    """Only metrics every run logs; val/train loss and accuracy first, a metric of the
    runs' own next, LR, epoch time and throughput last."""
    one = results([row(1, 0.5, 0.9, val_f1=0.8, bleu=3.0)])
    two = results([row(1, 0.4, 0.95, val_f1=0.85)])
    assert shared_metrics([one, two]) == [
        "val_loss", "val_acc", "train_loss", "train_acc", "val_f1", "lr", "epoch_time",
        "samples_per_second"]


def test_a_metric_without_values_is_not_shared() -> None:
    """A column that is empty in one run (a run of your own code without accuracy) is not
    offered."""
    empty = results([{**row(1, 0.5, 0.9), "val_acc": None}])
    assert "val_acc" not in shared_metrics([empty, results([row(1, 0.4, 0.9)])])


def test_best_is_the_lowest_loss_and_the_highest_accuracy() -> None:
    """Loss: the minimum; accuracy: the maximum; a tie goes to the first epoch; NaN is
    skipped; a metric without a direction (LR) has no best."""
    run = results([row(1, 0.5, 0.90), row(2, math.nan, 0.97), row(3, 0.2, 0.97),
                   row(4, 0.3, 0.96)])
    found = best(run, "val_loss")
    assert found is not None and (found.value, found.epoch) == (0.2, 3)
    found = best(run, "val_acc")
    assert found is not None and (found.value, found.epoch) == (0.97, 2)
    assert best(run, "lr") is None
    assert (goal("val_perplexity"), goal("val_f1"), goal("grad_norm")) == ("min", "max", None)


def test_config_differences_only_the_keys_that_differ() -> None:
    """Keys with one value in every run are left out, and so is run_dir; a key one run
    lacks differs (None)."""
    runs = [results([], lr=0.003, seed=1, run_dir="a", model="cnn"),
            results([], lr=0.001, seed=1, run_dir="b", model="cnn", amp="bf16")]
    assert config_differences(runs) == [("lr", [0.003, 0.001]), ("amp", [None, "bf16"])]


def test_load_runs_refuses_bad_input(tmp_path: Path) -> None:
    """Fewer than two runs, a missing directory, a folder that is no run, or one run
    named twice: a TrainuiError naming the problem."""
    first, second, _ = three_runs(tmp_path)
    cases = {
        (first,): "needs at least 2 run directories, got 1",
        (first, tmp_path / "missing"): "no such directory",
        (first, tmp_path): "not a trainui run directory",
        (first, Path(f"{first}/")): "named twice",
    }
    for paths, message in cases.items():
        with pytest.raises(TrainuiError, match=message):
            load_runs(paths)
    assert [run.name for run in load_runs([first, second])] == ["lr-0.003", "lr-0.001"]


def test_records_hold_the_final_figures(tmp_path: Path) -> None:
    """Each run's state, epochs, best validation loss and accuracy, test accuracy and
    duration, as its files say; the config values that differ under `config`."""
    runs = load_runs(three_runs(tmp_path))
    first, _, stopped = records(runs)
    assert first == {"run": "lr-0.003", "config": {"batch_size": 64, "lr": 0.003},
                     "state": "finished", "epochs_done": 6, "epochs": 6,
                     "best_val_loss": 0.08, "best_val_acc": 0.98, "test_accuracy": 0.9741,
                     "duration_s": 58.2}
    assert (stopped["state"], stopped["epochs_done"], stopped["test_accuracy"],
            stopped["duration_s"]) == ("interrupted", 4, None, None)


def test_csv_and_json_carry_full_values(tmp_path: Path) -> None:
    """CSV: one row per run, config columns prefixed, exact floats, empty for missing;
    JSON: a list of records, null for missing."""
    runs = load_runs(three_runs(tmp_path))
    table = list(csv.DictReader(io.StringIO(compare_table(runs, "csv"))))
    assert [line["run"] for line in table] == ["lr-0.003", "lr-0.001", "lr-0.0003"]
    assert float(table[1]["best_val_loss"]) == 0.045 and table[1]["config.lr"] == "0.001"
    assert table[2]["test_accuracy"] == "" and table[2]["config.batch_size"] == "32"
    data = json.loads(compare_table(runs, "json"))
    assert data[2]["test_accuracy"] is None and data[0]["config"] == {"batch_size": 64,
                                                                      "lr": 0.003}


def test_table_and_markdown_round_for_reading(tmp_path: Path) -> None:
    """The aligned table and Markdown: differing config values after the run's name,
    accuracy as a percentage, a loss to 4 significant digits, `-` for what a run lacks."""
    runs = load_runs(three_runs(tmp_path))
    lines = compare_table(runs, "table").splitlines()
    assert lines[0].split()[:3] == ["RUN", "batch_size", "lr"]
    assert lines[2].split() == ["lr-0.001", "64", "0.001", "finished", "6/6", "0.04500",
                                "99.00%", "99.26%", "1:01"]
    assert lines[3].split()[-3:] == ["93.00%", "-", "-"]
    markdown = compare_table(runs, "markdown").splitlines()
    assert markdown[1].startswith("|---|---:") and "| 0.08000 | 98.00% | 97.41% |" in markdown[2]
    with pytest.raises(ValueError, match="unknown compare format"):
        compare_table(runs, "xml")


def test_run_files_change_when_a_run_trains_on(tmp_path: Path) -> None:
    """A run is read again only when its files changed: an epoch more shows."""
    path = three_runs(tmp_path)[2]
    files = RunFiles(path)
    assert files.changed() and not files.changed()
    earlier = files.read().rows
    add_events(path, [epoch_event(row(5, 0.3, 0.94), 6)], earlier=earlier)
    assert files.changed()
    assert files.read().epochs_done == 5
    with RunLock(path):  # a trainer takes the run on: it is running
        assert files.changed() and files.read().state is RunState.RUNNING
    assert files.changed() and files.read().state is RunState.INTERRUPTED  # killed: let go


# trainui runs and trainui watch -------------------------------------------------------


def test_listing_has_test_accuracy_duration_and_state(tmp_path: Path) -> None:
    """`trainui runs`: each run's state, test accuracy and duration (`-` until it ended)."""
    paths = three_runs(tmp_path)
    listings = [list_run(path) for path in paths]
    assert (listings[0].test_accuracy, listings[0].duration) == (0.9741, 58.2)
    lines = listing_table(listings).splitlines()
    assert lines[0].split()[:7] == ["RUN", "STATE", "EPOCHS", "BEST", "TEST", "ACC",
                                    "DURATION"]
    assert "finished" in lines[1] and "97.41%" in lines[1] and "0:58" in lines[1]
    assert "interrupted" in lines[3] and "4/6" in lines[3]


def test_watch_without_a_run_prefers_one_still_training(tmp_path: Path) -> None:
    """The most recent run still training, even with a newer finished one; without one
    training, the most recent run."""
    paths = three_runs(tmp_path)
    training = paths[2]
    now = time.time()
    for age, path in zip((200, 100, 300), paths, strict=True):
        os.utime(path / "config.json", (now - age, now - age))
    assert latest_run(tmp_path) == paths[1]
    with RunLock(training):
        assert latest_run(tmp_path) == training
        assert list_run(training).state is RunState.RUNNING


# The compare view ---------------------------------------------------------------------


@async_test
async def test_m_cycles_the_shared_metrics_and_y_the_log_scale(tmp_path: Path) -> None:
    """`m` charts the next shared metric (wrapping round), the legend gives each run's
    best of it; `y` makes the y axis logarithmic and the title says so."""
    from trainui.tui.compare import CompareApp, CompareChart, CompareLegend, CompareScreen

    app = CompareApp(load_runs(three_runs(tmp_path)), poll_seconds=60)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CompareScreen) and screen.metric == "val_loss"
        legend = str(screen.query_one(CompareLegend).render())
        assert "best 0.08000 (epoch 5)" in legend and "best 0.04500 (epoch 6)" in legend
        await pilot.press("m")
        assert screen.metric == "val_acc"
        legend = str(screen.query_one(CompareLegend).render())
        assert "best 98.00% (epoch 6)" in legend and "best 93.00% (epoch 4)" in legend
        for _ in range(len(screen.metrics) - 1):
            await pilot.press("m")
        assert screen.metric == "val_loss"
        chart = screen.query_one(CompareChart)
        await pilot.press("y")
        assert chart.view.log_y and "log" in str(chart.border_title)
        await pilot.press("q")
    assert not app.is_running


def test_runs_of_a_missing_root_is_one_line(tmp_path: Path) -> None:
    """`trainui runs --root` naming no folder is bad input (exit 2), not "no runs"."""
    from conftest import run_trainui

    result = run_trainui(["runs", "--root", tmp_path / "absent"])
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == f"trainui: error: --root {tmp_path / 'absent'}: no such directory\n"
    empty = run_trainui(["runs", "--root", tmp_path])
    assert empty.returncode == 0 and empty.stdout == f"no runs in {tmp_path}\n"


@async_test
async def test_every_epoch_of_each_run_is_drawn(tmp_path: Path) -> None:
    """Runs of 40 and 6 epochs: once laid out, the chart plots each epoch of both (one
    point per column at most), not a two-point line drawn before it had a width."""
    from trainui.tui import chart as chart_module
    from trainui.tui.compare import CompareApp

    long = write_run(tmp_path / "long", [row(e, 1 / e, 0.9) for e in range(1, 41)],
                     test_accuracy=0.9)
    short = write_run(tmp_path / "short", [row(e, 2 / e, 0.8) for e in range(1, 7)],
                      test_accuracy=0.8)
    plotted: list[list[float]] = []
    real = chart_module.EventChart._plot_line

    def record(self: Any, plt: Any, colors: Any, line: Any, limits: Any) -> None:
        plotted.append(list(line.xs))
        real(self, plt, colors, line, limits)

    chart_module.EventChart._plot_line = record  # type: ignore[method-assign]
    try:
        app = CompareApp(load_runs([long, short]), poll_seconds=60)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            plotted.clear()
            await pilot.resize_terminal(120, 40)
            await pilot.pause()
            await pilot.press("q")
    finally:
        chart_module.EventChart._plot_line = real  # type: ignore[method-assign]
    assert plotted[-2:] == [[float(e) for e in range(1, 41)], [float(e) for e in range(1, 7)]]


@async_test
async def test_a_run_still_training_is_followed(tmp_path: Path) -> None:
    """A new epoch written to a run's files shows in the table and the legend at the
    next look, without reopening the view."""
    from trainui.tui.compare import CompareApp, CompareLegend, CompareTable

    paths = three_runs(tmp_path)
    app = CompareApp(load_runs(paths), poll_seconds=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(CompareTable)
        assert table.get_row_at(2)[5] == "4/6"
        earlier = load_runs(paths)[2].rows
        add_events(paths[2], [epoch_event(row(5, 0.01, 0.999), 6)], earlier=earlier)
        for _ in range(100):
            await pilot.pause(0.05)
            if table.get_row_at(2)[5] == "5/6":
                break
        assert table.get_row_at(2)[5] == "5/6"
        assert "best 0.01000 (epoch 5)" in str(app.screen.query_one(CompareLegend).render())


@async_test
async def test_a_chart_appears_once_every_run_ended_an_epoch(tmp_path: Path) -> None:
    """A run that has not ended an epoch shares no metric: the view says so, then charts
    validation loss once the run's first epoch is written."""
    from trainui.tui.compare import CompareApp, CompareChart

    ready = three_runs(tmp_path)[0]
    starting = write_run(tmp_path / "starting", [])
    app = CompareApp(load_runs([ready, starting]), poll_seconds=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert "share no metric yet" in str(app.screen.query_one("#empty", Static).render())
        add_events(starting, [epoch_event(row(1, 0.7, 0.8), 6)])
        for _ in range(100):
            await pilot.pause(0.05)
            if app.screen.query(CompareChart):
                break
        assert app.screen.query_one(CompareChart).metric == "val_loss"
        assert not app.screen.query("#empty")


@async_test
async def test_picker_marks_runs_and_compares_them(tmp_path: Path) -> None:
    """In `trainui runs`: enter with fewer than 2 marked says so and stays; space marks,
    the hint names the marked runs, enter compares them in the list's order; escape comes
    back to the list, q leaves."""
    from trainui.tui.compare import CompareScreen
    from trainui.tui.compare_picker import PickerApp, PickerScreen

    paths = three_runs(tmp_path)
    app = PickerApp([list_run(path) for path in paths])
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("down", "down", "space", "enter")
        await pilot.pause()
        assert isinstance(app.screen, PickerScreen)
        assert any("mark 2 runs" in str(note.message) for note in app._notifications)
        await pilot.press("up", "up", "space")
        hint = str(app.screen.query_one("#hint", Static).render())
        assert "marked: lr-0.003, lr-0.0003" in hint
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        assert [run.name for run in screen.runs] == ["lr-0.003", "lr-0.0003"]
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, PickerScreen)
        await pilot.press("q")
    assert not app.is_running


# The command line ---------------------------------------------------------------------


def test_cli_compare_a_real_run_and_a_written_one(trainui_cli: RunTrainui,
                                                  tmp_path: Path) -> None:
    """Off a terminal `trainui compare` prints the table: a real short run beside a run
    written with its config but another LR differ in `lr` only; --format json carries the
    real run's test accuracy from metrics.json; bad input is one line on stderr, exit 2."""
    real = tmp_path / "real"
    trained = trainui_cli(["--headless", "--model", "mlp", "--epochs", "1", "--lr", "0.01",
                           "--run-dir", real], cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    config = json.loads((real / "config.json").read_text())
    written = write_run(tmp_path / "written", [row(1, 0.5, 0.9)],
                        config={**config, "lr": 0.003}, test_accuracy=0.9)
    done = trainui_cli(["compare", real, written])
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["RUN", "lr", "STATE"]
    assert lines[1].split()[:4] == ["real", "0.01", "finished", "1/1"]
    assert lines[2].split()[:4] == ["written", "0.003", "finished", "1/1"]
    data = json.loads(trainui_cli(["compare", real, written, "--format", "json"]).stdout)
    metrics = json.loads((real / "metrics.json").read_text())
    assert data[0]["test_accuracy"] == metrics["accuracy"] and data[1]["test_accuracy"] == 0.9
    for args, message in ((["compare", real], "needs at least 2 run directories"),
                          (["compare", real, tmp_path / "nope"], "no such directory"),
                          (["compare", real, tmp_path], "not a trainui run directory")):
        failed = trainui_cli(args)
        assert failed.returncode == 2 and failed.stdout == ""
        assert failed.stderr.count("\n") == 1 and message in failed.stderr
