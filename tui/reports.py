"""Plain-text reports for the command line: evaluation metrics and the list of runs."""

from __future__ import annotations

import time
from typing import Any


def format_metrics(metrics: dict[str, Any]) -> str:
    """Overall scores, per-class scores and the confusion matrix as aligned text."""
    names = metrics["class_names"]
    width = max(6, *(len(n) for n in names))
    lines = [
        f"checkpoint {metrics.get('checkpoint', '')}  ({metrics['samples']} test samples)",
        f"accuracy {metrics['accuracy']:.4f}  precision {metrics['precision']:.4f}  "
        f"recall {metrics['recall']:.4f}  f1 {metrics['f1']:.4f}",
        "",
        f"{'class':>{width}}  precision  recall      f1  support",
    ]
    for name in names:
        c = metrics["per_class"][name]
        lines.append(
            f"{name:>{width}}  {c['precision']:9.4f}  {c['recall']:6.4f}  "
            f"{c['f1']:6.4f}  {c['support']:7d}"
        )
    cell = max(5, *(len(n) for n in names))
    lines += [
        "",
        "confusion matrix (rows: true, columns: predicted)",
        " " * width + "".join(f"{n:>{cell + 1}}" for n in names),
    ]
    for name, row in zip(names, metrics["confusion_matrix"], strict=True):
        lines.append(f"{name:>{width}}" + "".join(f"{v:>{cell + 1}}" for v in row))
    return "\n".join(lines)


NOTE_WIDTH = 72
"""Characters of a failed run's one-line cause shown in `trainui runs` (watch shows all)."""


def format_runs(summaries: list[Any]) -> str:
    """One aligned line per run, newest last, with a header."""
    rows = [("RUN", "STATE", "EPOCHS", "BEST", "STARTED", "WHY")]
    for s in summaries:
        epochs = f"{s.epochs_done}/{s.epochs}" if s.epochs else str(s.epochs_done)
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(s.started))
        why = s.note if len(s.note) <= NOTE_WIDTH else s.note[:NOTE_WIDTH - 1] + "…"
        rows.append((str(s.path), str(s.state), epochs, s.best, started, why))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows
    )
