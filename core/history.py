"""Training history: per-epoch metrics and a bounded per-step loss series."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

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


class BoundedSeries:
    """A (step, value) series that never holds more than `max_points` points.

    When full, neighbouring points are averaged in pairs and later points are binned twice
    as wide, so memory stays flat over any run length while the shape is kept. The newest
    point is always the last one added.
    """

    def __init__(self, max_points: int = 2048) -> None:
        if max_points < 4 or max_points % 2:
            raise ValueError("max_points must be an even number >= 4")
        self.max_points = max_points
        self.steps: list[float] = []
        self.values: list[float] = []
        self.bin_size = 1
        self._pending_steps = 0.0
        self._pending_values = 0.0
        self._pending_count = 0

    def __len__(self) -> int:
        return len(self.values)

    def append(self, step: float, value: float) -> None:
        """Add one raw point; it may be merged into a bin with its neighbours."""
        self._pending_steps += step
        self._pending_values += value
        self._pending_count += 1
        if self._pending_count < self.bin_size:
            return
        self.steps.append(self._pending_steps / self._pending_count)
        self.values.append(self._pending_values / self._pending_count)
        self._pending_steps = self._pending_values = 0.0
        self._pending_count = 0
        if len(self.values) >= self.max_points:
            self._halve()

    def points(self) -> list[tuple[float, float]]:
        """Return the stored points plus the partly filled bin, oldest first."""
        out = list(zip(self.steps, self.values, strict=True))
        if self._pending_count:
            n = self._pending_count
            out.append((self._pending_steps / n, self._pending_values / n))
        return out

    def _halve(self) -> None:
        self.steps = _pair_means(self.steps)
        self.values = _pair_means(self.values)
        self.bin_size *= 2

    def state_dict(self) -> dict[str, Any]:
        """Return the series as two float64 tensors and plain values (cheap to save)."""
        import torch  # here: run-directory tools use this module without torch

        return {"max_points": self.max_points, "bin_size": self.bin_size,
                "steps": torch.tensor(self.steps, dtype=torch.float64),
                "values": torch.tensor(self.values, dtype=torch.float64),
                "pending": [self._pending_steps, self._pending_values, self._pending_count]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        self.max_points = int(state["max_points"])
        self.bin_size = int(state["bin_size"])
        self.steps = _floats(state["steps"])
        self.values = _floats(state["values"])
        pending = state["pending"]
        self._pending_steps, self._pending_values = float(pending[0]), float(pending[1])
        self._pending_count = int(pending[2])


def _floats(values: Any) -> list[float]:
    if hasattr(values, "tolist"):  # a tensor from a checkpoint
        return [float(v) for v in values.tolist()]
    return [float(v) for v in values]


def _pair_means(values: list[float]) -> list[float]:
    return [(values[i] + values[i + 1]) / 2 for i in range(0, len(values) - 1, 2)]


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
        self.epochs = {k: _floats(state["epochs"].get(k, [])) for k in EPOCH_KEYS}
        self.epochs["epoch"] = [int(v) for v in self.epochs["epoch"]]
        self.step_loss.load_state_dict(state["step_loss"])


def rows_to_csv(rows: list[dict[str, float]]) -> str:
    """Return per-epoch rows as CSV text, columns in EPOCH_KEYS order, with a header."""
    lines = [",".join(EPOCH_KEYS)]
    lines += [",".join(_csv_value(row[k]) for k in EPOCH_KEYS) for row in rows]
    return "\n".join(lines) + "\n"


def _csv_value(value: float) -> str:
    return str(value) if isinstance(value, int) else repr(float(value))
