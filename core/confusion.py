"""Reading a confusion matrix: each true class's shares, and the pairs most often confused.

Rows are true classes, columns predicted ones, as the evaluation writes them.
"""

from __future__ import annotations

from typing import NamedTuple

from . import formats


class Confusion(NamedTuple):
    """Samples of class `true` predicted as `predicted`: how many, and their share of the class."""

    true: str
    predicted: str
    samples: int
    share: float


def row_shares(matrix: list[list[int]]) -> list[list[float]]:
    """Each cell as a fraction of its row (its true class); a class without samples is 0."""
    shares = []
    for row in matrix:
        total = sum(row)
        shares.append([count / total if total else 0.0 for count in row])
    return shares


def cell_text(count: int, share: float, normalized: bool) -> str:
    """A cell: its count, or its share of the row in whole percent (`<1` for a sliver);
    `.` for none."""
    if count == 0:
        return "."
    if not normalized:
        return str(count)
    percent = round(100 * share)
    return str(percent) if percent else "<1"


class MatrixText(NamedTuple):
    """A confusion matrix as text: cells, their width (a space included), column heads and
    row labels. Names that fit a cell head the columns; longer ones label the rows after
    an index, and the indices head the columns."""

    cells: list[list[str]]
    width: int
    heads: list[str]
    labels: list[str]
    by_name: bool


def matrix_text(matrix: list[list[int]], names: list[str], normalized: bool) -> MatrixText:
    """The cells of `matrix` (counts, or with `normalized` percentages of each true class)
    and how its columns and rows are named."""
    cells = [[cell_text(count, share, normalized) for count, share in zip(row, shares,
                                                                           strict=True)]
             for row, shares in zip(matrix, row_shares(matrix), strict=True)]
    width = 1 + max(2, *(len(text) for row in cells for text in row))
    by_name = all(len(name) < width for name in names)
    if by_name:
        return MatrixText(cells, width, list(names), list(names), True)
    index = len(str(len(names) - 1))
    return MatrixText(cells, width, [str(i) for i in range(len(names))],
                      [f"{i:>{index}} {name}" for i, name in enumerate(names)], False)


def most_confused(matrix: list[list[int]], names: list[str], limit: int = 3) -> list[Confusion]:
    """The `limit` off-diagonal cells with the most samples, largest first (ties: the larger
    share of its true class first, then the matrix order)."""
    shares = row_shares(matrix)
    cells = [
        Confusion(names[true], names[predicted], count, shares[true][predicted])
        for true, row in enumerate(matrix)
        for predicted, count in enumerate(row)
        if true != predicted and count > 0
    ]
    cells.sort(key=lambda cell: (-cell.samples, -cell.share))
    return cells[:limit]


def confused_text(pairs: list[Confusion]) -> str:
    """`cat -> dog: 12 (12.00%), truck -> automobile: 5 (5.00%)`: true -> predicted, the count
    and its share of the true class; `none` when every sample was right."""
    if not pairs:
        return "none"
    return ", ".join(
        f"{pair.true} -> {pair.predicted}: {pair.samples} ({formats.percent(pair.share)})"
        for pair in pairs
    )
