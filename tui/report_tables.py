"""Rich tables for the end of a run: confusion matrix with shaded cells, per-class metrics."""

from __future__ import annotations

from typing import Any

from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.color import Color

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
    matrix: list[list[int]], class_names: list[str], colors: dict[str, str]
) -> Table:
    """Rows are true classes, columns predicted; cells shaded by their row share."""
    width = 1 + max(2, len(str(max((max(row) for row in matrix), default=0))))
    table = Table(
        title="Confusion (true x pred)", title_style="bold", title_justify="left",
        box=None, padding=0, collapse_padding=True, show_edge=False,
    )  # fmt: skip
    table.add_column("", justify="right", style="bold", no_wrap=True)
    for name in class_names:
        table.add_column(name[:width], justify="right", width=width, no_wrap=True)
    for row_index, row in enumerate(matrix):
        total = sum(row)
        cells = [
            Text(f"{count or '.':>{width}}",
                 style=shade(count, total, row_index == col_index, colors))
            for col_index, count in enumerate(row)
        ]  # fmt: skip
        table.add_row(class_names[row_index] + " ", *cells)
    return table


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
            name, *(f"{scores.get(key, 0.0):.3f}" for key in ("precision", "recall", "f1")),
            str(scores.get("support", "")),
        )  # fmt: skip
    table.add_row(
        Text("overall", style="bold"),
        *(Text(f"{metrics.get(key, 0.0):.3f}", style="bold") for key in OVERALL_KEYS[1:]),
        "",
    )
    return table
