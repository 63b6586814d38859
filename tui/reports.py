"""Plain-text reports for the command line: a checkpoint's evaluation metrics."""

from __future__ import annotations

from typing import Any

from trainui.core import formats
from trainui.core.confusion import confused_text, matrix_text, most_confused
from trainui.core.event_text import scores_line


def format_metrics(metrics: dict[str, Any], normalize: bool = False) -> str:
    """Overall scores, per-class scores, the confusion matrix (counts, or with `normalize`
    percentages of each true class) and the pairs most often confused, as aligned text."""
    names = metrics["class_names"]
    width = max(6, *(len(n) for n in names))
    lines = [
        f"checkpoint {metrics.get('checkpoint', '')}  ({metrics['samples']} test samples)",
        scores_line(metrics),
        "",
        f"{'class':>{width}}  precision  recall      f1  support",
    ]
    for name in names:
        c = metrics["per_class"][name]
        lines.append(
            f"{name:>{width}}  {formats.score(c['precision']):>9}  "
            f"{formats.score(c['recall']):>6}  {formats.score(c['f1']):>6}  {c['support']:7d}"
        )
    matrix = metrics["confusion_matrix"]
    pairs = confused_text(most_confused(matrix, names))
    return "\n".join([*lines, "", *matrix_lines(matrix, names, normalize), "",
                      f"most confused (true -> predicted): {pairs}"])


def matrix_lines(matrix: list[list[int]], names: list[str], normalize: bool) -> list[str]:
    """The confusion matrix under its title (see core.confusion.matrix_text)."""
    text = matrix_text(matrix, names, normalize)
    label = max((len(label) for label in text.labels), default=0)
    unit = "percent of each true class" if normalize else "counts"
    lines = [f"confusion matrix (rows: true, columns: predicted; {unit})",
             " " * label + "".join(f"{head:>{text.width}}" for head in text.heads)]
    for row_label, row in zip(text.labels, text.cells, strict=True):
        lines.append(f"{row_label:<{label}}" + "".join(f"{cell:>{text.width}}" for cell in row))
    return lines
