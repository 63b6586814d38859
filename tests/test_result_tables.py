"""Runs' results as CSV, JSON and Markdown (`trainui runs --format`, `trainui export`):
units on hand-built results, then the command line on two real short runs."""

from __future__ import annotations

import calendar
import csv
import io
import json
import math
import re
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from trainui.core.outcome import RunState
from trainui.core.result_tables import (
    EXPORT_COLUMNS,
    RUN_COLUMNS,
    best_value,
    duration_text,
    export_table,
    iso_utc,
    runs_table,
)
from trainui.core.run_results import RunResults, load_results

RunTrainui = Callable[..., subprocess.CompletedProcess[str]]

STARTED = float(calendar.timegm((2026, 11, 28, 9, 31, 16))) + 0.75
CLASSES = ["cat, tabby", 'say "hi"', "a|b", "plain"]
PER_CLASS = {
    "cat, tabby": {"precision": 0.1 + 0.2, "recall": 2 / 3, "f1": 0.4, "support": 3},
    'say "hi"': {"precision": 1.0, "recall": 0.0, "f1": 0.0, "support": 1},
    "a|b": {"precision": 1 / 7, "recall": 0.5, "f1": 0.2222222222222222, "support": 2},
    "plain": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0},
}
MATRIX = [[2, 1, 0, 0], [0, 0, 1, 0], [1, 0, 1, 0], [0, 0, 0, 0]]
ROWS: list[dict[str, float | None]] = [
    {"epoch": 1, "train_loss": 1.2942486423865707, "train_acc": 0.5, "val_loss": 0.9,
     "val_acc": 0.6, "lr": 0.001, "epoch_time": 0.5, "samples_per_second": 100.0},
    {"epoch": 2, "train_loss": 0.1973778194701188, "train_acc": 0.9689737470167065,
     "val_loss": 0.08144738634151441, "val_acc": 0.9888888888888889, "lr": 0.0001,
     "epoch_time": 0.25, "samples_per_second": 2533.035528943076, "my_metric": 3.0},
]


def finished_run(name: str = "pets, v2", **changes: Any) -> RunResults:
    """A finished run with a test evaluation: awkward class names, full-precision values."""
    run = RunResults(
        run_dir=Path("runs") / name, state=RunState.FINISHED,
        config={"model": "cnn", "lr": 0.001, "epochs": 2}, rows=[dict(r) for r in ROWS],
        metrics={"accuracy": 0.6666666666666666, "precision": 0.47619047619047616,
                 "recall": 1 / 3, "f1": 0.3650793650793651,
                 "per_class": json.loads(json.dumps(PER_CLASS)), "confusion_matrix": MATRIX,
                 "class_names": list(CLASSES), "samples": 6, "weights": "best (epoch 2)",
                 "stop_cause": "completed", "epochs_completed": 2},
        best_monitor="val_loss", best_value=0.08144739, best_epoch=2, started=STARTED,
        duration=5.86248, epochs=2)
    for key, value in changes.items():
        setattr(run, key, value)
    return run


def untested_run(name: str = "early") -> RunResults:
    """A run stopped after one epoch, before any test evaluation: no metrics, no best."""
    return RunResults(run_dir=Path("runs") / name, state=RunState.INTERRUPTED,
                      rows=[dict(ROWS[0])], epochs=10, started=STARTED)


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def strict_json(text: str) -> Any:
    """json.loads that refuses NaN and Infinity, as a strict JSON reader would."""
    def refuse(name: str) -> None:
        raise AssertionError(f"non-standard JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


def cell(value: str) -> float | None:
    return None if value == "" else float(value)


# runs_table -----------------------------------------------------------------------------


def test_runs_csv_reads_back_to_the_exact_values() -> None:
    """One row per run (None skipped), every float as it was, missing values empty."""
    text = runs_table([finished_run(), None, untested_run()], "csv")
    assert text.endswith("\n") and text.splitlines()[0] == ",".join(RUN_COLUMNS)
    tested, untested = read_csv(text)
    assert tested["run"] == "pets, v2" and tested["path"] == str(Path("runs/pets, v2"))
    assert tested["state"] == "finished" and tested["epochs_done"] == "2"
    assert tested["epochs"] == "2" and tested["best_monitor"] == "val_loss"
    assert float(tested["best_value"]) == 0.08144738634151441  # history's, not the events'
    assert tested["best_epoch"] == "2"
    assert float(tested["test_accuracy"]) == 0.6666666666666666
    assert float(tested["test_precision"]) == 0.47619047619047616
    assert float(tested["test_recall"]) == 1 / 3
    assert float(tested["test_f1"]) == 0.3650793650793651
    assert tested["test_samples"] == "6" and float(tested["duration_s"]) == 5.86248
    assert tested["started"] == "2026-11-28T09:31:16Z"
    assert untested["run"] == "early" and untested["state"] == "interrupted"
    assert untested["epochs_done"] == "1" and untested["epochs"] == "10"
    empty = ("best_monitor", "best_value", "best_epoch", "test_accuracy", "test_precision",
             "test_recall", "test_f1", "test_samples", "duration_s")
    assert all(untested[key] == "" for key in empty)


def test_runs_json_has_per_class_and_config() -> None:
    """A list of objects, indented 2, with per_class and config; missing values null."""
    text = runs_table([None, finished_run(), untested_run()], "json")
    assert text.startswith('[\n  {\n    "run": ') and text.endswith("]\n")
    tested, untested = strict_json(text)
    assert list(tested) == [*RUN_COLUMNS, "per_class", "config"]
    assert tested["per_class"] == PER_CLASS and tested["config"]["model"] == "cnn"
    assert tested["test_recall"] == 1 / 3 and tested["best_value"] == 0.08144738634151441
    assert tested["test_samples"] == 6 and tested["started"] == "2026-11-28T09:31:16Z"
    assert untested["per_class"] is None and untested["config"] == {}
    assert untested["best_value"] is None and untested["test_f1"] is None
    assert untested["duration_s"] is None and untested["epochs_done"] == 1


def test_runs_with_no_runs() -> None:
    """No runs (or only unreadable ones): a CSV header alone, an empty JSON list."""
    assert runs_table([], "csv") == ",".join(RUN_COLUMNS) + "\n"
    assert runs_table([None, None], "csv") == ",".join(RUN_COLUMNS) + "\n"
    assert runs_table([], "json") == "[]\n"


def test_non_finite_values_are_null_in_json_and_kept_in_csv() -> None:
    """NaN and infinity: JSON null (strict JSON has neither), CSV `nan`/`inf` (as
    history.csv writes them), Markdown `nan`."""
    run = finished_run(best_value=math.nan, duration=math.inf)
    run.metrics["accuracy"] = math.nan  # type: ignore[index]
    run.metrics["per_class"]["plain"]["f1"] = math.nan  # type: ignore[index]
    run.config["clip_grad"] = math.inf
    record = strict_json(runs_table([run], "json"))[0]
    assert record["best_value"] is None and record["duration_s"] is None
    assert record["test_accuracy"] is None and record["config"]["clip_grad"] is None
    assert record["per_class"]["plain"]["f1"] is None
    row = read_csv(runs_table([run], "csv"))[0]
    assert math.isnan(float(row["best_value"])) and math.isnan(float(row["test_accuracy"]))
    assert float(row["duration_s"]) == math.inf
    exported = strict_json(export_table([run], "json"))
    assert exported["test"]["accuracy"] is None and exported["best"]["value"] is None
    assert exported["per_class"]["plain"]["f1"] is None
    plain = [r for r in read_csv(export_table([run], "csv")) if r["class"] == "plain"][0]
    assert math.isnan(float(plain["f1"]))
    markdown = export_table([run], "markdown")
    assert "| accuracy  |    nan |" in markdown and "duration: -" in markdown


def test_unknown_formats_are_value_errors() -> None:
    with pytest.raises(ValueError, match="table"):
        runs_table([finished_run()], "table")
    with pytest.raises(ValueError, match="html"):
        export_table([finished_run()], "html")


# export_table: csv ----------------------------------------------------------------------


def test_export_csv_is_tidy_with_a_weighted_average_row() -> None:
    """One row per (run, class) in class order, then `weighted avg`: exact values, names
    with commas, quotes and pipes intact."""
    text = export_table([finished_run(), finished_run("other")], "csv")
    assert text.splitlines()[0] == ",".join(EXPORT_COLUMNS) and text.endswith("\n")
    rows = read_csv(text)
    assert [(r["run"], r["class"]) for r in rows] == [
        *(("pets, v2", name) for name in [*CLASSES, "weighted avg"]),
        *(("other", name) for name in [*CLASSES, "weighted avg"])]
    for row in rows[:4]:
        scores = PER_CLASS[row["class"]]
        assert [cell(row[k]) for k in ("precision", "recall", "f1")] == [
            scores["precision"], scores["recall"], scores["f1"]]
        assert row["support"] == str(scores["support"]) and row["accuracy"] == ""
    overall = rows[4]
    assert cell(overall["precision"]) == 0.47619047619047616
    assert cell(overall["recall"]) == 1 / 3 and cell(overall["f1"]) == 0.3650793650793651
    assert overall["support"] == "6" and cell(overall["accuracy"]) == 0.6666666666666666
    assert cell(rows[0]["precision"]) == 0.1 + 0.2  # 0.30000000000000004, not rounded


def test_export_csv_run_without_test_is_one_row_of_its_name() -> None:
    """A run without a test evaluation keeps one row: its name, every other cell empty."""
    rows = read_csv(export_table([untested_run(), finished_run()], "csv"))
    assert rows[0] == {"run": "early", "class": "", "precision": "", "recall": "", "f1": "",
                       "support": "", "accuracy": ""}
    assert len(rows) == 1 + len(CLASSES) + 1


def test_export_csv_class_names_with_line_breaks() -> None:
    """A line break in a class name is quoted, and reads back."""
    run = finished_run()
    run.metrics = {**run.metrics, "class_names": ["two\nlines"],  # type: ignore[dict-item]
                   "per_class": {"two\nlines": PER_CLASS["plain"]}}
    rows = read_csv(export_table([run], "csv"))
    assert [r["class"] for r in rows] == ["two\nlines", "weighted avg"]


# export_table: json ---------------------------------------------------------------------


def test_export_json_one_run_is_an_object() -> None:
    """One run: an object with best, test, per_class, matrix, classes and the last epoch."""
    text = export_table([finished_run()], "json")
    assert text.startswith('{\n  "run": "pets, v2"') and text.endswith("}\n")
    record = strict_json(text)
    assert record["path"] == str(Path("runs/pets, v2")) and record["state"] == "finished"
    assert record["epochs_done"] == 2 and record["epochs"] == 2
    assert record["best"] == {"monitor": "val_loss", "value": 0.08144738634151441, "epoch": 2}
    assert record["test"] == {"accuracy": 0.6666666666666666, "precision": 0.47619047619047616,
                              "recall": 1 / 3, "f1": 0.3650793650793651, "samples": 6,
                              "weights": "best (epoch 2)"}
    assert record["per_class"] == PER_CLASS and record["confusion_matrix"] == MATRIX
    assert record["class_names"] == CLASSES and record["final_epoch"] == ROWS[-1]
    assert record["duration_s"] == 5.86248


def test_export_json_several_runs_is_a_list() -> None:
    """Several runs: a list in the order given; a run without a test has nulls."""
    records = strict_json(export_table([finished_run(), untested_run()], "json"))
    assert [r["run"] for r in records] == ["pets, v2", "early"]
    untested = records[1]
    assert untested["best"] == {"monitor": None, "value": None, "epoch": None}
    assert set(untested["test"].values()) == {None}
    assert untested["per_class"] is None and untested["confusion_matrix"] is None
    assert untested["class_names"] is None and untested["final_epoch"] == ROWS[0]
    assert strict_json(export_table([], "json")) == []


def test_export_json_before_the_first_epoch() -> None:
    run = RunResults(run_dir=Path("fresh"), state=RunState.STARTING)
    record = strict_json(export_table([run], "json"))
    assert record["final_epoch"] is None and record["epochs_done"] == 0


# export_table: markdown -----------------------------------------------------------------


def tables(markdown: str) -> list[list[str]]:
    """The Markdown tables in `markdown`, each as its lines."""
    blocks = [block.splitlines() for block in markdown.split("\n\n")]
    return [block for block in blocks if block and block[0].startswith("|")]


def test_export_markdown_heading_summary_and_tables() -> None:
    """A heading, a summary line, then metrics, per-class and confusion-matrix tables."""
    text = export_table([finished_run()], "markdown")
    assert text.startswith("## pets, v2\n\n") and text.endswith("|\n")
    assert ("state: finished, epochs: 2/2, best epoch: 2 (val_loss 0.08145), "
            "duration: 0:05") in text
    metrics, per_class, matrix = tables(text)
    assert metrics == [
        "| metric    |  value |",
        "| --------- | -----: |",
        "| accuracy  | 66.67% |",
        "| precision | 0.4762 |",
        "| recall    | 0.3333 |",
        "| f1        | 0.3651 |",
        "| samples   |      6 |",
    ]
    assert per_class[:3] == [
        "| class      | precision | recall |     f1 | support |",
        "| ---------- | --------: | -----: | -----: | ------: |",
        "| cat, tabby |    0.3000 | 0.6667 | 0.4000 |       3 |",
    ]
    assert per_class[3] == '| say "hi"   |    1.0000 | 0.0000 | 0.0000 |       1 |'
    assert per_class[4] == "| a\\|b       |    0.1429 | 0.5000 | 0.2222 |       2 |"
    assert matrix[0].startswith("| true \\ predicted | cat, tabby | say \"hi\" | a\\|b |")
    assert matrix[1].startswith("| ---------------- | ---------: |")
    assert matrix[2] == "| cat, tabby       |          2 |        1 |    0 |     0 |"
    assert len(matrix) == 2 + len(MATRIX)


def test_export_markdown_tables_align() -> None:
    """Every line of a table is as long as its header, and its pipes stand in the same
    columns (a `\\|` inside a cell aside)."""
    for table in tables(export_table([finished_run()], "markdown")):
        assert len({len(line) for line in table}) == 1, table
        columns = {tuple(m.start() for m in re.finditer(r"(?<!\\)\|", line)) for line in table}
        assert len(columns) == 1, table


def test_export_markdown_without_test_evaluation() -> None:
    """A run without test metrics says so instead of the tables; runs are separated."""
    text = export_table([untested_run(), finished_run("b")], "markdown")
    first, second = text.split("\n## b\n")
    assert first == ("## early\n\nstate: interrupted, epochs: 1/10, best epoch: -, "
                     "duration: -\n\nno test evaluation\n")
    assert "| metric " in second and "no test evaluation" not in second


def test_export_markdown_escapes_names() -> None:
    """A pipe in a class name is escaped; a line break in a name becomes a space."""
    run = finished_run("two\nlines")
    run.metrics = {**run.metrics, "class_names": ["x|y\nz"],  # type: ignore[dict-item]
                   "per_class": {"x|y\nz": PER_CLASS["plain"]}, "confusion_matrix": [[0]]}
    text = export_table([run], "markdown")
    assert text.startswith("## two lines\n")
    assert "| x\\|y z |" in text and "| true \\ predicted | x\\|y z |" in text


def test_formats_of_values() -> None:
    assert iso_utc(STARTED) == "2026-11-28T09:31:16Z" and iso_utc(0) == "1970-01-01T00:00:00Z"
    assert iso_utc(None) is None and iso_utc(math.nan) is None
    assert duration_text(42.34) == "0:42" and duration_text(187) == "3:07"
    assert duration_text(7500) == "2:05:00" and duration_text(None) == "-"


def test_best_value_prefers_the_history_when_it_agrees() -> None:
    assert best_value(finished_run()) == 0.08144738634151441
    assert best_value(finished_run(best_value=0.5)) == 0.5  # disagrees: the events' value
    assert best_value(finished_run(best_monitor="auc")) == 0.08144739  # not in the history
    assert best_value(untested_run()) is None


# The command line, on real runs ---------------------------------------------------------


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory: pytest.TempPathFactory, trainui_cli: RunTrainui,
              cli_pool: ThreadPoolExecutor) -> Path:
    """A root with two short real runs trained side by side: the CNN in `cnn, digits` (a
    comma in its name) and the MLP in `mlp`."""
    root = tmp_path_factory.mktemp("results")
    commands = [["--headless", "--epochs", "2", "--run-dir", root / "cnn, digits"],
                ["--headless", "--epochs", "2", "--model", "mlp", "--run-dir", root / "mlp"]]
    for result in cli_pool.map(trainui_cli, commands):
        assert result.returncode == 0, result.stderr
    return root


def cli_ok(trainui_cli: RunTrainui, *args: object) -> str:
    """stdout of a trainui command that must succeed quietly."""
    result = trainui_cli(args)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return result.stdout


def files_of(run_dir: Path) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """A run's metrics.json and history.csv rows, as written."""
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    return metrics, read_csv((run_dir / "history.csv").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_cli_runs_csv_and_json_match_the_run_files(real_runs: Path,
                                                   trainui_cli: RunTrainui) -> None:
    """`trainui runs --format csv|json`: each run's values equal metrics.json and
    history.csv's."""
    rows = read_csv(cli_ok(trainui_cli, "runs", "--root", real_runs, "--format", "csv"))
    records = strict_json(cli_ok(trainui_cli, "runs", "--root", real_runs, "--format", "json"))
    assert sorted(r["run"] for r in rows) == ["cnn, digits", "mlp"]
    assert [r["run"] for r in records] == [r["run"] for r in rows]
    for row, record in zip(rows, records, strict=True):
        metrics, history = files_of(real_runs / row["run"])
        for key in ("accuracy", "precision", "recall", "f1"):
            assert float(row[f"test_{key}"]) == record[f"test_{key}"] == metrics[key]
        assert int(row["test_samples"]) == record["test_samples"] == metrics["samples"]
        assert record["per_class"] == metrics["per_class"]
        assert row["state"] == record["state"] == "finished"
        assert row["epochs_done"] == row["epochs"] == "2" == history[-1]["epoch"]
        best = history[int(row["best_epoch"]) - 1][row["best_monitor"]]
        assert row["best_value"] == best and record["best_value"] == float(best)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row["started"])
        assert float(row["duration_s"]) > 0 and record["config"]["epochs"] == 2


@pytest.mark.slow
def test_cli_export_two_runs(real_runs: Path, trainui_cli: RunTrainui) -> None:
    """`trainui export RUN1 RUN2 --format csv|json|markdown`, values as in the files."""
    runs = [real_runs / "cnn, digits", real_runs / "mlp"]
    rows = read_csv(cli_ok(trainui_cli, "export", *runs, "--format", "csv"))
    records = strict_json(cli_ok(trainui_cli, "export", *runs, "--format", "json"))
    markdown = cli_ok(trainui_cli, "export", *runs, "--format", "markdown")
    assert [r["run"] for r in records] == ["cnn, digits", "mlp"]
    for run_dir, record in zip(runs, records, strict=True):
        metrics, history = files_of(run_dir)
        mine = [r for r in rows if r["run"] == run_dir.name]
        assert [r["class"] for r in mine] == [*metrics["class_names"], "weighted avg"]
        for row in mine[:-1]:
            scores = metrics["per_class"][row["class"]]
            assert cell(row["f1"]) == scores["f1"] and int(row["support"]) == scores["support"]
        assert cell(mine[-1]["accuracy"]) == metrics["accuracy"] == record["test"]["accuracy"]
        assert int(mine[-1]["support"]) == metrics["samples"]
        assert record["confusion_matrix"] == metrics["confusion_matrix"]
        assert record["final_epoch"]["val_loss"] == float(history[-1]["val_loss"])
        assert f"## {run_dir.name}\n" in markdown
    assert markdown.count("| true \\ predicted |") == 2


@pytest.mark.slow
def test_cli_export_output_file_and_default_markdown(real_runs: Path, trainui_cli: RunTrainui,
                                                     tmp_path: Path) -> None:
    """--output writes the table to the file and prints nothing; no --format: Markdown."""
    run_dir = real_runs / "mlp"
    target = tmp_path / "mlp.json"
    assert cli_ok(trainui_cli, "export", run_dir, "--format", "json", "--output", target) == ""
    written = strict_json(target.read_text(encoding="utf-8"))
    assert written == strict_json(export_table([load_results(run_dir)], "json"))
    markdown = cli_ok(trainui_cli, "export", run_dir)
    assert markdown == export_table([load_results(run_dir)], "markdown")
    assert markdown.startswith("## mlp\n\nstate: finished, epochs: 2/2")


@pytest.mark.slow
def test_cli_export_not_a_run_is_a_usage_error(tmp_path: Path,
                                               trainui_cli: RunTrainui) -> None:
    """A directory that is not a run: exit 2, one `trainui: error:` line, no traceback."""
    result = trainui_cli(["export", tmp_path / "nothing here", "--format", "csv"])
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("trainui: error: "), result.stderr
    assert "Traceback" not in result.stderr
