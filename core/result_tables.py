"""Runs' results as text to share: CSV, JSON and Markdown (`trainui runs --format`,
`trainui export --format`). Standard library only; nothing here imports torch.

Numbers
    CSV and JSON carry full values: a float is written as Python's `repr` (it reads back to
    the very same float), an int as an int. Missing values are an empty CSV cell and a JSON
    `null`. JSON has no NaN or infinity, so a non-finite float is `null` there; a CSV cell
    keeps it as `nan`, `inf` or `-inf` (as history.csv does: a diverged loss stays visible,
    and `float()` and pandas read it back). `started` is ISO 8601 UTC to the second
    (`2026-11-28T09:31:16Z`), `duration_s` the seconds the run trained, all sessions
    together. `best_value` is the best epoch's value in history.csv (the run's events keep
    fewer digits) when the two agree. CSV uses the csv module's quoting (a class or run
    name with a comma, a quote or a line break is quoted) and `\\n` line ends; every text
    ends with a newline.

`runs_table` (`trainui runs --format csv|json`)
    One record per run, in the order given: RUN_COLUMNS, plus `per_class` (by class name;
    `null` without a test evaluation) and `config` (the run's config.json) in JSON. JSON is
    always a list (`[]` for no runs); CSV with no runs is its header alone.

`export_table` (`trainui export --format csv|json|markdown`)
    csv: tidy, EXPORT_COLUMNS. For each run one row per class (in the run's class order,
        `accuracy` empty) and then one `weighted avg` row (as scikit-learn's
        classification_report says): weighted precision, recall and F1, `support` the number
        of test samples, `accuracy` the test accuracy. A run without a test evaluation (one
        still training, stopped or interrupted before its test) still gets one row, so that
        it does not silently drop out of the table: its name with every other cell empty.
    json: one object per run: a single object for one run, a list for any other number.
        `best` {monitor, value, epoch} and `test` {accuracy, precision, recall, f1, samples,
        weights} are always objects, their fields `null` when missing; `per_class`,
        `confusion_matrix` and `class_names` are `null` without a test evaluation;
        `final_epoch` is the last history row (epoch, train/val loss and accuracy, lr, epoch
        time, throughput and any metric of the run's own), `null` before the first epoch.
        `epochs` (the epochs the run was set to train) sits beside `epochs_done`.
    markdown: for each run a `## RUN_NAME` heading, a line with state, epochs, best epoch
        and duration (`state: finished, epochs: 2/2, best epoch: 2 (val_loss 0.08145),
        duration: 0:05`; numbers and durations in trainui's formats, core/formats.py), then
        the test metrics (`| metric | value |`, samples included), the per-class scores
        (`| class | precision | recall | f1 | support |`) and the confusion matrix (true
        classes as rows, predicted ones as columns, header cell `true \\ predicted`), or
        "no test evaluation" instead of the three tables. Runs are separated by a blank
        line. Rounded for reading, one format per quantity: accuracy a percentage with 2
        decimals (`99.26%`); precision, recall, F1 and the best monitored value 4 decimals
        (`0.9931`); support, samples and confusion counts integers; a missing value `-`
        (a non-finite one `nan`, `inf`). Cells are padded so that the raw text lines up
        too; the first column is left-aligned, number columns right-aligned (`---:`); `|`
        in names is escaped as `\\|` and a line break becomes a space.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from . import formats
from .run_results import RunResults

RUN_COLUMNS = (
    "run", "path", "state", "epochs_done", "epochs", "best_monitor", "best_value",
    "best_epoch", "test_accuracy", "test_precision", "test_recall", "test_f1", "test_samples",
    "duration_s", "started",
)
"""The fields of `runs_table`, in order (JSON adds `per_class` and `config`)."""
EXPORT_COLUMNS = ("run", "class", "precision", "recall", "f1", "support", "accuracy")
"""The columns of `export_table(..., "csv")`."""
WEIGHTED = "weighted avg"
"""The class cell of a run's overall row in the export CSV."""
SCORES = ("precision", "recall", "f1")
MISSING = "-"
"""A missing value in Markdown."""

Value = str | int | float | None


def runs_table(results: Sequence[RunResults | None], fmt: str) -> str:
    """Runs as CSV or JSON records, one per run (None entries, unreadable runs, skipped)."""
    runs = [run for run in results if run is not None]
    if fmt == "csv":
        return _csv(RUN_COLUMNS, (list(_run_record(run).values()) for run in runs))
    if fmt == "json":
        return _json([{**_run_record(run), "per_class": _per_class_or_none(run),
                       "config": run.config} for run in runs])
    raise ValueError(f"unknown runs table format {fmt!r} (csv or json)")


def export_table(results: Sequence[RunResults], fmt: str) -> str:
    """Runs' final metrics and per-class scores as CSV, JSON or Markdown."""
    if fmt == "csv":
        return _csv(EXPORT_COLUMNS, (row for run in results for row in _export_rows(run)))
    if fmt == "json":
        records = [_export_record(run) for run in results]
        return _json(records[0] if len(records) == 1 else records)
    if fmt == "markdown":
        return "\n".join(_markdown_run(run) for run in results)
    raise ValueError(f"unknown export format {fmt!r} (csv, json or markdown)")


# Values ---------------------------------------------------------------------------------


def has_test(run: RunResults) -> bool:
    """Whether the run has test metrics (a test evaluation ran)."""
    return any(run.test(key) is not None for key in ("accuracy", *SCORES))


def best_value(run: RunResults) -> float | None:
    """The best monitored value at full precision: the best epoch's history.csv value when
    it agrees with the run's events (which keep fewer digits), else the events' value."""
    value = run.best_value
    if value is None or run.best_monitor is None or run.best_epoch is None:
        return value
    for row in run.rows:
        exact = row.get(run.best_monitor)
        if row.get("epoch") == run.best_epoch and isinstance(exact, float):
            return exact if math.isclose(exact, value, rel_tol=1e-6) else value
    return value


def iso_utc(seconds: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC to the second (`2026-11-28T09:31:16Z`), or None."""
    if seconds is None or not math.isfinite(seconds):
        return None
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
    except (OverflowError, OSError, ValueError):
        return None


def _number(value: Any) -> int | float | None:
    """An int stays an int, a float a float; anything else (bool, str, None) is None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _count(value: Any) -> int | None:
    """A whole number (support, samples) as an int, or None."""
    number = _number(value)
    if number is None or not math.isfinite(number) or number != int(number):
        return None
    return int(number)


def _samples(run: RunResults) -> int | None:
    """The number of test samples (else the sum of the class supports), or None."""
    if not has_test(run):
        return None
    samples = _count((run.metrics or {}).get("samples"))
    if samples is None and run.per_class:
        supports = [_count(scores.get("support")) for scores in _class_scores(run).values()]
        samples = sum(s for s in supports if s is not None) if supports else None
    return samples


def _class_names(run: RunResults) -> list[str]:
    """The run's classes in its order: class_names, then any other per_class key."""
    names = run.class_names
    return names + [str(name) for name in run.per_class if str(name) not in names]


def _class_scores(run: RunResults) -> dict[str, Mapping[str, Any]]:
    """Per-class scores by class name (a malformed entry as no scores)."""
    return {str(name): scores if isinstance(scores, Mapping) else {}
            for name, scores in run.per_class.items()}


def _per_class_or_none(run: RunResults) -> dict[str, Any] | None:
    return dict(run.per_class) if has_test(run) or run.per_class else None


# Records --------------------------------------------------------------------------------


def _run_record(run: RunResults) -> dict[str, Value]:
    """One run's RUN_COLUMNS values."""
    return {
        "run": run.name, "path": str(run.run_dir), "state": str(run.state),
        "epochs_done": run.epochs_done, "epochs": run.epochs,
        "best_monitor": run.best_monitor, "best_value": best_value(run),
        "best_epoch": run.best_epoch,
        **{f"test_{key}": run.test(key) for key in ("accuracy", *SCORES)},
        "test_samples": _samples(run), "duration_s": run.duration,
        "started": iso_utc(run.started),
    }


def _export_rows(run: RunResults) -> list[list[Value]]:
    """A run's export CSV rows: one per class, then its weighted average."""
    if not has_test(run):
        return [[run.name] + [None] * (len(EXPORT_COLUMNS) - 1)]
    scores = _class_scores(run)
    rows: list[list[Value]] = []
    for name in _class_names(run):
        entry = scores.get(name, {})
        rows.append([run.name, name, *(_number(entry.get(key)) for key in SCORES),
                     _count(entry.get("support")), None])
    rows.append([run.name, WEIGHTED, *(run.test(key) for key in SCORES), _samples(run),
                 run.test("accuracy")])
    return rows


def _export_record(run: RunResults) -> dict[str, Any]:
    """A run's export JSON object."""
    weights = (run.metrics or {}).get("weights")
    return {
        "run": run.name, "path": str(run.run_dir), "state": str(run.state),
        "epochs_done": run.epochs_done, "epochs": run.epochs,
        "best": {"monitor": run.best_monitor, "value": best_value(run),
                 "epoch": run.best_epoch},
        "test": {**{key: run.test(key) for key in ("accuracy", *SCORES)},
                 "samples": _samples(run),
                 "weights": weights if isinstance(weights, str) else None},
        "per_class": _per_class_or_none(run),
        "confusion_matrix": run.confusion_matrix,
        "class_names": run.class_names or None,
        "final_epoch": dict(run.rows[-1]) if run.rows else None,
        "duration_s": run.duration,
    }


# CSV and JSON ---------------------------------------------------------------------------


def _csv(header: Sequence[str], rows: Iterable[Sequence[Value]]) -> str:
    """A header and rows as CSV text (csv module quoting, `\\n` line ends)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([_csv_cell(value) for value in row] for row in rows)
    return out.getvalue()


def _csv_cell(value: Value) -> str:
    """A full-precision cell: repr of a float, an int as is, None empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _json(data: Any) -> str:
    """Indented JSON with a final newline; non-finite floats become null."""
    return json.dumps(finite(data), indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def finite(data: Any) -> Any:
    """`data` with every NaN or infinite float, however deep, replaced by None."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, Mapping):
        return {str(key): finite(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [finite(value) for value in data]
    return data


# Markdown -------------------------------------------------------------------------------


def _markdown_run(run: RunResults) -> str:
    """One run's Markdown section: heading, summary line, tables."""
    parts = [f"## {_one_line(run.name)}", _summary_line(run)]
    if not has_test(run):
        parts.append("no test evaluation")
    else:
        parts.append(_metrics_table(run))
        if _class_names(run):
            parts.append(_class_table(run))
        if run.confusion_matrix:
            parts.append(_confusion_table(run))
    return "\n\n".join(parts) + "\n"


def _summary_line(run: RunResults) -> str:
    """State, epochs, best epoch and duration on one line."""
    epochs = f"{run.epochs_done}/{run.epochs}" if run.epochs else str(run.epochs_done)
    best = MISSING
    if run.best_epoch is not None:
        value = (f" {formats.metric(run.best_monitor, best_value(run))}"
                 if run.best_value is not None else "")
        best = f"{run.best_epoch} ({run.best_monitor or 'monitor'}{value})"
    return (f"state: {run.state}, epochs: {epochs}, best epoch: {best}, "
            f"duration: {duration_text(run.duration)}")


def duration_text(seconds: float | None) -> str:
    """A run's duration in the one format used everywhere (`0:42`, `1:02:03`); `-` when
    missing."""
    if seconds is None or not math.isfinite(seconds):
        return MISSING
    return formats.duration(seconds)


def _fixed(value: Any, decimals: int) -> str:
    """A number with `decimals` decimals (nan and inf as such), `-` when missing."""
    number = _number(value)
    return MISSING if number is None else f"{number:.{decimals}f}"


def _percent(value: Any) -> str:
    """A fraction as a percentage with 2 decimals (`99.26%`), `-` when missing."""
    number = _number(value)
    if number is None:
        return MISSING
    return f"{number * 100:.2f}%" if math.isfinite(number) else f"{number}"


def _integer(value: Any) -> str:
    count = _count(value)
    return MISSING if count is None else str(count)


def _metrics_table(run: RunResults) -> str:
    rows = [["accuracy", _percent(run.test("accuracy"))],
            *([key, _fixed(run.test(key), 4)] for key in SCORES),
            ["samples", _integer(_samples(run))]]
    return _table(["metric", "value"], rows)


def _class_table(run: RunResults) -> str:
    scores = _class_scores(run)
    rows = []
    for name in _class_names(run):
        entry = scores.get(name, {})
        rows.append([_cell_text(name), *(_fixed(entry.get(key), 4) for key in SCORES),
                     _integer(entry.get("support"))])
    return _table(["class", *SCORES, "support"], rows)


def _confusion_table(run: RunResults) -> str:
    matrix = [row if isinstance(row, list) else [] for row in run.confusion_matrix or []]
    size = max(len(matrix), *(len(row) for row in matrix))
    names = _class_names(run)
    labels = [_cell_text(names[i]) if i < len(names) else str(i) for i in range(size)]
    rows = [[labels[i], *(_integer(row[j]) if j < len(row) else MISSING for j in range(size))]
            for i, row in enumerate(matrix)]
    return _table(["true \\ predicted", *labels], rows)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table: the first column left-aligned, the others right-aligned (`---:`),
    every cell padded to its column's width."""
    widths = [max(3, len(header[i]), *(len(row[i]) for row in rows))
              for i in range(len(header))]
    rule = ["-" * widths[0], *("-" * (w - 1) + ":" for w in widths[1:])]
    lines = [_line(header, widths), "| " + " | ".join(rule) + " |"]
    lines += [_line(row, widths) for row in rows]
    return "\n".join(lines)


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    padded = [cells[0].ljust(widths[0]),
              *(cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))]
    return "| " + " | ".join(padded) + " |"


def _one_line(text: str) -> str:
    """Line breaks as spaces."""
    return " ".join(text.splitlines()) if text else text


def _cell_text(text: str) -> str:
    """Text for a table cell: `|` escaped, line breaks as spaces."""
    return _one_line(text).replace("|", "\\|")
