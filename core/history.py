"""Training history: per-epoch metrics and a bounded per-step loss series."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .series import BoundedSeries, floats

EPOCH_KEYS = (
    "epoch",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "lr",
    "epoch_time",
    "samples_per_second",
)


@dataclass
class History:
    """Per-epoch metrics (one list per key, as in `history['val_loss']`) and step losses."""

    epochs: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in EPOCH_KEYS})
    step_loss: BoundedSeries = field(default_factory=BoundedSeries)

    def __getitem__(self, key: str) -> list[float]:
        return self.epochs[key]

    def __len__(self) -> int:
        return len(self.epochs["epoch"])

    def record_epoch(self, row: dict[str, float]) -> None:
        """Append one epoch's row; every key of EPOCH_KEYS must be present."""
        for key in EPOCH_KEYS:
            self.epochs[key].append(row[key])

    def rows(self) -> list[dict[str, float]]:
        """Return the epochs as a list of dicts, one per epoch."""
        return [dict(zip(EPOCH_KEYS, values, strict=True))
                for values in zip(*(self.epochs[k] for k in EPOCH_KEYS), strict=True)]

    def to_csv(self) -> str:
        """Return the per-epoch history as CSV text with a header row."""
        return rows_to_csv(self.rows())

    def state_dict(self) -> dict[str, Any]:
        """Return the history as float64 tensors, one per key (cheap to save)."""
        import torch

        return {"epochs": {k: torch.tensor(v, dtype=torch.float64)
                           for k, v in self.epochs.items()},
                "step_loss": self.step_loss.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        self.epochs = {k: floats(state["epochs"].get(k, [])) for k in EPOCH_KEYS}
        self.epochs["epoch"] = [int(v) for v in self.epochs["epoch"]]
        self.step_loss.load_state_dict(state["step_loss"])


def rows_to_csv(rows: Sequence[Mapping[str, float | None]]) -> str:
    """Return per-epoch rows as CSV text with a header: EPOCH_KEYS first, then any other
    metric in the order it first appears; a value a row lacks is an empty cell."""
    columns = list(EPOCH_KEYS)
    for row in rows:
        columns += [key for key in row if key not in columns]
    lines = [",".join(_csv_name(name) for name in columns)]
    lines += [",".join(_csv_value(row.get(k)) for k in columns) for row in rows]
    return "\n".join(lines) + "\n"


def _csv_value(value: float | None) -> str:
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else repr(float(value))


def _csv_name(name: str) -> str:
    """A column name, quoted when it holds a comma or a quote."""
    if any(c in name for c in ',"\n'):
        return '"' + name.replace('"', '""') + '"'
    return name


def csv_to_rows(text: str) -> list[dict[str, float | None]]:
    """Per-epoch rows from `rows_to_csv` text: numbers as floats (`epoch` as an int), an
    empty cell as None. Raises ValueError for text that is not such a table."""
    import csv
    import io

    table = list(csv.reader(io.StringIO(text)))
    if not table or not table[0]:
        return []
    header, rows = table[0], []
    for number, cells in enumerate(table[1:], start=2):
        if not cells:
            continue
        if len(cells) != len(header):
            raise ValueError(f"line {number} has {len(cells)} cells, the header {len(header)}")
        row: dict[str, float | None] = {}
        for name, cell in zip(header, cells, strict=True):
            row[name] = None if cell == "" else float(cell)
        if row.get("epoch") is not None:
            row["epoch"] = int(row["epoch"])  # type: ignore[arg-type]
        rows.append(row)
    return rows
