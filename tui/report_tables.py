"""Rich tables for the end of a run: confusion matrix with shaded cells, per-class metrics."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.color import Color

from trainui.core import formats
from trainui.core.confusion import matrix_text

OVERALL_KEYS = ("accuracy", "precision", "recall", "f1")


def shade(count: int, row_total: int, on_diagonal: bool, colors: dict[str, str]) -> Style:
    """Cell style: tint by the row-normalised share, blue-ish if correct, red-ish if not."""
    base = Color.parse(colors["base"])
    if count == 0 or row_total == 0:
        return Style(color=Color.parse(colors["muted"]).rich_color, bgcolor=base.rich_color)
    tint = Color.parse(colors["correct" if on_diagonal else "wrong"])
    # A floor so a single misclassification is still visible next to an empty cell.
    background = base.blend(tint, 0.25 + 0.75 * count / row_total)
    return Style(
        color=background.get_contrast_text(1.0).rich_color,
        bgcolor=background.rich_color,
        bold=on_diagonal,
    )


def confusion_table(
    matrix: list[list[int]], class_names: list[str], colors: dict[str, str],
    normalized: bool = False,
) -> Group:
    """Rows are true classes, columns predicted; cells shaded by their row share; under a
    title that says which way round and in which unit.

    `normalized`: cells are percentages of their row (their true class) instead of counts.
    Names longer than a cell head the rows only, after an index that heads the columns.
    """
    text = matrix_text(matrix, class_names, normalized)
    unit = "% of true class" if normalized else "counts"
    title = Text(f"Confusion (true x pred, {unit})", style="bold")
    table = Table(box=None, padding=0, collapse_padding=True, show_edge=False)
    table.add_column("", justify="right" if text.by_name else "left", style="bold",
                     no_wrap=True)
    for head in text.heads:
        table.add_column(head, justify="right", width=text.width, no_wrap=True)
    for row_index, row in enumerate(matrix):
        total = sum(row)
        cells = [
            Text(f"{text.cells[row_index][col_index]:>{text.width}}",
                 style=shade(count, total, row_index == col_index, colors))
            for col_index, count in enumerate(row)
        ]  # fmt: skip
        table.add_row(text.labels[row_index] + " ", *cells)
    return Group(title, table)


def metrics_table(metrics: dict[str, Any]) -> Table:
    """Per-class precision, recall, F1 and support, then the overall figures."""
    table = Table(
        title="Per class", title_style="bold", title_justify="left", box=None,
        padding=(0, 1), pad_edge=False, header_style="bold underline",
    )  # fmt: skip
    table.add_column("class", no_wrap=True)
    for heading in ("prec", "recall", "F1", "n"):
        table.add_column(heading, justify="right", no_wrap=True)
    for name, scores in metrics.get("per_class", {}).items():
        table.add_row(
            name, *(formats.score(scores.get(key, 0.0)) for key in ("precision", "recall", "f1")),
            str(scores.get("support", "")),
        )  # fmt: skip
    table.add_row(
        Text("overall", style="bold"),
        *(Text(formats.score(metrics.get(key, 0.0)), style="bold") for key in OVERALL_KEYS[1:]),
        "",
    )
    return table
