"""Bounded series, downsampling and smoothing: one implementation for the core and the view.

A run of any length keeps its per-step loss (and the view its charts) in flat memory:
`BoundedSeries` averages neighbouring points in pairs when it fills up and from then on
bins twice as many raw points per stored one. `downsample` cuts a series to what a
chart or an event can carry. `Smoother` is TensorBoard's debiased moving average.
"""

from __future__ import annotations

import math
from typing import Any

DEFAULT_CAPACITY = 2048


class BoundedSeries:
    """An (x, y) series of at most `capacity` stored points, plus a partly filled bin."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 4 or capacity % 2:
            raise ValueError(f"capacity must be an even number >= 4, got {capacity}")
        self.capacity = capacity
        self.bin_size = 1
        """How many raw points each stored point averages."""
        self._xs: list[float] = []
        self._ys: list[float] = []
        self._pending = [0.0, 0.0, 0]  # sum of x, sum of y, count of the filling bin
        self.last: tuple[float, float] | None = None
        """The most recent raw point."""

    def __len__(self) -> int:
        return len(self._xs) + (1 if self._pending[2] else 0)

    def append(self, x: float, y: float) -> None:
        """Add one raw point; it may be averaged into a bin with its neighbours."""
        self.last = (x, y)
        pending = self._pending
        pending[0] += x
        pending[1] += y
        pending[2] += 1
        if pending[2] < self.bin_size:
            return
        self._xs.append(pending[0] / pending[2])
        self._ys.append(pending[1] / pending[2])
        self._pending = [0.0, 0.0, 0]
        if len(self._xs) >= self.capacity:
            self._xs = _pair_means(self._xs)
            self._ys = _pair_means(self._ys)
            self.bin_size *= 2

    def truncate(self, last_x: float) -> None:
        """Forget every point after `last_x` (a resumed run goes back to its checkpoint)."""
        keep = sum(1 for x in self._xs if x <= last_x)
        del self._xs[keep:], self._ys[keep:]
        sum_x, _, count = self._pending
        if count and sum_x / count > last_x:
            self._pending = [0.0, 0.0, 0]
        if self.last is not None and self.last[0] > last_x:
            xs, ys = self.points()
            self.last = (xs[-1], ys[-1]) if xs else None

    def points(self) -> tuple[list[float], list[float]]:
        """The x and y values, oldest first, the partly filled bin as its mean."""
        xs, ys = list(self._xs), list(self._ys)
        sum_x, sum_y, count = self._pending
        if count:
            xs.append(sum_x / count)
            ys.append(sum_y / count)
        return xs, ys

    def state_dict(self) -> dict[str, Any]:
        """The series as two float64 tensors and plain values (cheap to save)."""
        import torch  # here: run-directory tools use this module without torch

        return {"max_points": self.capacity, "bin_size": self.bin_size,
                "steps": torch.tensor(self._xs, dtype=torch.float64),
                "values": torch.tensor(self._ys, dtype=torch.float64),
                "pending": list(self._pending),
                "last": None if self.last is None else list(self.last)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        self.capacity = int(state["max_points"])
        self.bin_size = int(state["bin_size"])
        self._xs = floats(state["steps"])
        self._ys = floats(state["values"])
        pending = state["pending"]
        self._pending = [float(pending[0]), float(pending[1]), int(pending[2])]
        last = state.get("last")
        self.last = None if last is None else (float(last[0]), float(last[1]))


def downsample(xs: list[float], ys: list[float], most: int) -> tuple[list[float], list[float]]:
    """Average the series into at most `most` points; the last point is kept as it is.

    Each output point but the last is the mean of a run of consecutive inputs, placed at
    the run's last x, so a downsampled curve never reaches past the data.
    """
    if most < 2 or len(xs) <= most:
        return list(xs), list(ys)
    body, buckets = len(xs) - 1, most - 1
    out_x: list[float] = []
    out_y: list[float] = []
    for index in range(buckets):
        low, high = index * body // buckets, (index + 1) * body // buckets
        if high > low:
            out_x.append(xs[high - 1])
            out_y.append(math.fsum(ys[low:high]) / (high - low))
    out_x.append(xs[-1])
    out_y.append(ys[-1])
    return out_x, out_y


class Smoother:
    """Debiased exponential moving average (as TensorBoard smooths scalars)."""

    def __init__(self, weight: float = 0.9) -> None:
        self.weight = weight
        self._average = 0.0
        self._count = 0

    def update(self, value: float) -> float:
        """Fold in one value; return the smoothed value so far."""
        if not math.isfinite(value):
            return value
        self._count += 1
        self._average = self.weight * self._average + (1 - self.weight) * value
        return self._average / (1 - self.weight**self._count)


def floats(values: Any) -> list[float]:
    """Plain floats from a list or a tensor read from a checkpoint."""
    if hasattr(values, "tolist"):  # a tensor from a checkpoint
        values = values.tolist()
    return [float(v) for v in values]


def _pair_means(values: list[float]) -> list[float]:
    return [(values[i] + values[i + 1]) / 2 for i in range(0, len(values) - 1, 2)]
