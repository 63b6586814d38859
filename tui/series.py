"""Bounded chart series: memory and redraw cost stay flat however long the run.

A `BoundedSeries` keeps at most `capacity` points. When full it merges neighbouring
points pairwise (averaging y) and from then on averages twice as many raw points into
each stored one, so a million-step run costs the same as a thousand-step one.
"""

from __future__ import annotations

import math

DEFAULT_CAPACITY = 2048


class BoundedSeries:
    """An (x, y) series of at most `capacity` stored points plus the latest raw point."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 2 or capacity % 2:
            raise ValueError("capacity must be an even number >= 2")
        self.capacity = capacity
        self.stride = 1
        """How many raw points each stored point averages."""
        self._xs: list[float] = []
        self._ys: list[float] = []
        self._bucket_sum = 0.0
        self._bucket_count = 0
        self.last: tuple[float, float] | None = None
        """The most recent raw point, always drawn as is."""

    def __len__(self) -> int:
        return len(self._xs) + (1 if self._bucket_count else 0)

    def append(self, x: float, y: float) -> None:
        """Add one raw point."""
        self.last = (x, y)
        self._bucket_sum += y
        self._bucket_count += 1
        if self._bucket_count < self.stride:
            return
        self._xs.append(x)
        self._ys.append(self._bucket_sum / self._bucket_count)
        self._bucket_sum, self._bucket_count = 0.0, 0
        if len(self._xs) >= self.capacity:
            self._halve()

    def points(self) -> tuple[list[float], list[float]]:
        """Stored points, then the latest raw point if it is not stored yet."""
        xs, ys = list(self._xs), list(self._ys)
        if self.last is not None and (not xs or xs[-1] != self.last[0]):
            xs.append(self.last[0])
            ys.append(self.last[1])
        return xs, ys

    def _halve(self) -> None:
        self._xs = self._xs[1::2]
        self._ys = [(a + b) / 2 for a, b in zip(self._ys[::2], self._ys[1::2], strict=True)]
        self.stride *= 2


def downsample(xs: list[float], ys: list[float], width: int) -> tuple[list[float], list[float]]:
    """Average the series into at most `width` points; the last point is kept as is."""
    if width < 2 or len(xs) <= width:
        return list(xs), list(ys)
    body, buckets = len(xs) - 1, width - 1
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
