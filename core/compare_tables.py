"""Runs compared as text (`trainui compare --format table|csv|json|markdown`, and what
`trainui compare` prints off a terminal): one record per run, its final figures and the
config values that differ between the runs.

Numbers: CSV and JSON carry full values (None is an empty cell or `null`, a non-finite
float `null` in JSON); the table and Markdown round them for reading as the rest of
trainui does (core/formats.py): accuracy `98.52%`, a loss `0.03600`, a duration `0:42`
or `1:02:03`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from . import formats
from .result_tables import duration_text, finite
from .run_compare import best, config_differences
from .run_index import aligned
from .run_results import RunResults

FORMATS = ("table", "csv", "json", "markdown")
FIGURES = ("state", "epochs_done", "epochs", "best_val_loss", "best_val_acc", "test_accuracy",
           "duration_s")
"""A record's final figures, in order; `run` and `config` (the differing values) first."""
HEADINGS = {"run": "RUN", "state": "STATE", "epochs_done": "EPOCHS", "duration_s": "DURATION",
            "best_val_loss": "BEST VAL LOSS", "best_val_acc": "BEST VAL ACC",
            "test_accuracy": "TEST ACC"}
SHOWN = ("run", "state", "epochs_done", "best_val_loss", "best_val_acc", "test_accuracy",
         "duration_s")
"""The fields the table and Markdown show (`epochs` is part of `epochs_done`'s cell)."""
MISSING = "-"


def final_figures(run: RunResults) -> dict[str, Any]:
    """A run's final figures: state, epochs, best validation loss and accuracy, test
    accuracy, duration (None where the run has none)."""
    best_loss, best_acc = best(run, "val_loss"), best(run, "val_acc")
    return {"state": str(run.state), "epochs_done": run.epochs_done, "epochs": run.epochs,
            "best_val_loss": best_loss and best_loss.value,
            "best_val_acc": best_acc and best_acc.value,
            "test_accuracy": run.test("accuracy"), "duration_s": run.duration}


def records(runs: Sequence[RunResults]) -> list[dict[str, Any]]:
    """One record per run: its name, its values of the config keys that differ between
    the runs (`config`), its final figures."""
    differences = config_differences(runs)
    return [{"run": run.name, "config": {key: values[index] for key, values in differences},
             **final_figures(run)} for index, run in enumerate(runs)]


def compare_table(runs: Sequence[RunResults], fmt: str) -> str:
    """The runs as an aligned table, CSV, JSON or Markdown (text ending in a newline)."""
    rows = records(runs)
    if fmt == "json":
        return json.dumps([finite(row) for row in rows], indent=2) + "\n"
    keys = list(rows[0]["config"]) if rows else []
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["run", *(f"config.{key}" for key in keys), *FIGURES])
        writer.writerows([_csv_cell(value) for value in
                          [row["run"], *row["config"].values(), *(row[f] for f in FIGURES)]]
                         for row in rows)
        return out.getvalue()
    if fmt in ("table", "markdown"):
        return (_aligned if fmt == "table" else _markdown)(*table_cells(rows))
    raise ValueError(f"unknown compare format {fmt!r} ({', '.join(FORMATS)})")


def table_cells(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """(headings, cells) of records for reading: the run, the differing config values,
    then the final figures."""
    keys = list(rows[0]["config"]) if rows else []
    header = ["RUN", *keys, *(HEADINGS[field] for field in SHOWN[1:])]
    cells = [[row["run"], *(config_text(row["config"][key]) for key in keys),
              *(cell_text(field, row) for field in SHOWN[1:])] for row in rows]
    return header, cells


def config_text(value: Any) -> str:
    """A config value for reading: text as such, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def cell_text(key: str, record: dict[str, Any]) -> str:
    """One figure of a record for reading."""
    value = record.get(key)
    if key == "epochs_done":
        return f"{value}/{record['epochs']}" if record.get("epochs") else str(value)
    if key == "duration_s":
        return duration_text(value)
    if value is None:
        return MISSING
    if key in ("best_val_acc", "test_accuracy"):
        return formats.percent(value)
    return formats.loss(value) if key == "best_val_loss" else str(value)


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value) if isinstance(value, dict | list | bool) else value


def _aligned(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(aligned([header, *rows])) + "\n"


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    rule = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"
    return "\n".join([line(header), rule, *(line(row) for row in rows)]) + "\n"
