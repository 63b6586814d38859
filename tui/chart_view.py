"""How the charts show their series: log scale, window, smoothing, robust y limits.

Plain functions of lists of floats, apart from Textual and plotext, so each decision can
be tested on made-up series.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum

from trainui.core.series import Smoother

SMOOTHING_WEIGHTS = (0.0, 0.6, 0.8, 0.9, 0.95, 0.99)
"""The smoothing steps, as TensorBoard's slider weights (0: raw)."""
DEFAULT_SMOOTHING = 0.6
"""TensorBoard's default."""
LAST_EPOCHS = 20
"""The `last N epochs` window."""
AROUND_BEST = 5
"""Epochs shown either side of the best one when zoomed there."""
FENCE = 3.0
"""Values beyond this many interquartile ranges past the quartiles are off the scale."""

Points = tuple[list[float], list[float]]
Bounds = tuple[float, float]
"""An x range: points with low < x <= high are visible."""


class Window(Enum):
    """Which part of the run the charts show."""

    WHOLE = "whole run"
    LAST = f"last {LAST_EPOCHS} epochs"
    BEST = f"best epoch ±{AROUND_BEST}"

    @property
    def short(self) -> str:
        """For a chart's title."""
        return {"LAST": f"last {LAST_EPOCHS}", "BEST": f"best ±{AROUND_BEST}"}.get(
            self.name, self.value
        )


@dataclass(frozen=True)
class ChartView:
    """The chart settings the keys change; each change returns a new view."""

    log_y: bool = False
    window: Window = Window.WHOLE
    smoothing: float = DEFAULT_SMOOTHING

    def changed(self, change: str) -> ChartView:
        """The view after a key: `log`, `window`, `smoother` or `rougher`."""
        if change == "log":
            return replace(self, log_y=not self.log_y)
        if change == "window":
            order = list(Window)
            return replace(self, window=order[(order.index(self.window) + 1) % len(order)])
        if change in ("smoother", "rougher"):
            return replace(self, smoothing=next_weight(self.smoothing, change == "smoother"))
        raise ValueError(f"unknown chart change {change!r}")

    def describe(self) -> str:
        """What differs from the default view, in a few words (empty for the default)."""
        parts = ["log"] if self.log_y else []
        if self.window is not Window.WHOLE:
            parts.append(self.window.short)
        return " · ".join(parts)


def next_weight(weight: float, up: bool) -> float:
    """The smoothing step above (or below) `weight`, staying at the ends."""
    steps = list(SMOOTHING_WEIGHTS)
    index = min(range(len(steps)), key=lambda i: abs(steps[i] - weight))
    return steps[max(0, min(len(steps) - 1, index + (1 if up else -1)))]


def ema(values: Sequence[float], weight: float) -> list[float]:
    """TensorBoard's debiased exponential moving average: `last = last*w + (1-w)*x`,
    divided by `1 - w**n` after n finite values. Non-finite values pass through as they are
    and do not count."""
    smoother = Smoother(weight)
    return [smoother.update(value) for value in values]


def window_bounds(
    window: Window, epoch_ends: dict[int, float], best_epoch: int | None
) -> Bounds | None:
    """The x range of a window; None for the whole run (or a window the run cannot fill).

    `epoch_ends` maps each finished epoch to its last x (its global step, or the epoch
    itself on a chart against epochs)."""
    if window is Window.WHOLE or not epoch_ends:
        return None
    if window is Window.LAST:
        first = max(epoch_ends) - LAST_EPOCHS + 1
        return (_end_before(epoch_ends, first), math.inf) if first > min(epoch_ends) else None
    if best_epoch is None:
        return None
    last = best_epoch + AROUND_BEST
    high = epoch_ends[last] if last in epoch_ends else math.inf
    return _end_before(epoch_ends, best_epoch - AROUND_BEST), high


def _end_before(epoch_ends: dict[int, float], epoch: int) -> float:
    """Where `epoch` starts: the end of the epoch before it (-inf before the first)."""
    earlier = [x for number, x in epoch_ends.items() if number < epoch]
    return max(earlier) if earlier else -math.inf


def visible(xs: Sequence[float], ys: Sequence[float], bounds: Bounds | None) -> Points:
    """The points inside `bounds` (all of them without bounds)."""
    if bounds is None:
        return list(xs), list(ys)
    low, high = bounds
    kept = [(x, y) for x, y in zip(xs, ys, strict=True) if low < x <= high]
    return [x for x, _ in kept], [y for _, y in kept]


def log_points(xs: Sequence[float], ys: Sequence[float]) -> tuple[list[float], list[float], int]:
    """log10 of the positive values, their xs, and how many values had no logarithm."""
    kept = [(x, math.log10(y)) for x, y in zip(xs, ys, strict=True) if y > 0]
    return [x for x, _ in kept], [y for _, y in kept], len(xs) - len(kept)


def quantile(ordered: Sequence[float], q: float) -> float:
    """The q-quantile of sorted values, interpolated linearly."""
    position = q * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def y_limits(values: Sequence[float]) -> Bounds | None:
    """The y range to show: every value inside the fences `FENCE` interquartile ranges past
    the quartiles, so one wild epoch (a first validation loss of 369) cannot flatten the
    rest, and the latest value. None when there is no finite value."""
    ordered = sorted(value for value in values if math.isfinite(value))
    if not ordered:
        return None
    low_quartile, high_quartile = quantile(ordered, 0.25), quantile(ordered, 0.75)
    spread = FENCE * (high_quartile - low_quartile)
    inside = [v for v in ordered if low_quartile - spread <= v <= high_quartile + spread]
    latest = values[-1]  # the value a live run is watched for is never off the scale
    if not math.isfinite(latest):
        return inside[0], inside[-1]
    return min(inside[0], latest), max(inside[-1], latest)


def joint_limits(series: Sequence[Sequence[float]]) -> Bounds | None:
    """A y range holding each series' own robust range: one series' outliers are off the
    scale, but no series pushes another one off it."""
    each = [limits for values in series if (limits := y_limits(values)) is not None]
    if not each:
        return None
    return min(low for low, _ in each), max(high for _, high in each)


def padded(bounds: Bounds) -> Bounds:
    """A little room above and below, so lines on the limits stay visible."""
    low, high = bounds
    margin = (high - low) * 0.05 or max(abs(high) * 0.05, 0.01)
    return low - margin, high + margin


def clip(ys: Sequence[float], bounds: Bounds) -> tuple[list[float], list[int], list[int]]:
    """The values held to `bounds`, and the indexes of those above and those below."""
    low, high = bounds
    above = [index for index, y in enumerate(ys) if y > high]
    below = [index for index, y in enumerate(ys) if y < low]
    return [min(max(y, low), high) for y in ys], above, below


def log_ticks(low: float, high: float, most: int = 8) -> tuple[list[float], list[str]]:
    """At most `most` ticks for a log10 axis spanning [low, high] (in log10 units),
    labelled in the data's units: 1, 2 and 5 times powers of ten, else powers of ten, else
    every other one..."""
    first, last = math.floor(low), math.ceil(high)
    inside: list[float] = []
    for factors in ((1, 2, 5), (1,)):
        inside = [
            exponent + math.log10(factor)
            for exponent in range(first, last + 1)
            for factor in factors
            if low <= exponent + math.log10(factor) <= high
        ]
        if len(inside) <= most:
            break
    inside = inside[:: math.ceil(len(inside) / max(1, most))] if inside else inside
    if len(inside) < 2:  # within one decade, between marks: even ticks
        count = max(2, min(4, most))
        inside = [low + (high - low) * step / (count - 1) for step in range(count)]
    return inside, [power_label(position) for position in inside]


def power_label(position: float) -> str:
    """`0.01`, `5`, `1e+04`: 10**position, short."""
    return f"{10**position:.3g}"


def linear_ticks(low: float, high: float, most: int) -> tuple[list[float], list[str]]:
    """At most `most` ticks at a 1-2-5 stride inside [low, high], labelled alike."""
    span = high - low
    if span <= 0 or not math.isfinite(span):
        return [low], [f"{low:.3g}"]
    magnitude = 10.0 ** math.floor(math.log10(span))
    strides = [factor * magnitude * 10.0**power for power in (-2, -1, 0) for factor in (1, 2, 5)]
    stride, ticks = strides[0], _multiples(low, high, strides[0])
    for wider in [*strides[1:], 10 * magnitude]:  # the narrowest stride within `most`
        if len(ticks) <= most:
            break
        candidate = _multiples(low, high, wider)
        if len(candidate) < 2:
            break  # (more than `most`, rather than one tick)
        stride, ticks = wider, candidate
    decimals = max(0, -math.floor(math.log10(stride) + 1e-9))
    return ticks, [number_label(tick, decimals) for tick in ticks]


def _multiples(low: float, high: float, stride: float) -> list[float]:
    first, last = math.ceil(low / stride - 1e-9), math.floor(high / stride + 1e-9)
    return [round(index * stride, 12) for index in range(first, last + 1)]


def number_label(value: float, decimals: int) -> str:
    """`0.015`, `250`, `1.5k`, `2M`: a tick label, short."""
    for limit, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value + 0.0:.{decimals}f}"  # (+ 0.0: no `-0.00`)


def label_width(labels: Sequence[str], unit: str) -> list[str]:
    """The y labels right-aligned, wide enough for the x unit under them."""
    width = max([len(unit) + 1, *map(len, labels)])
    return [label.rjust(width) for label in labels]


def x_ticks_clear_of(
    ticks: Sequence[float],
    labels: Sequence[str],
    x_range: Bounds,
    columns: tuple[int, int],
    reserved: int,
) -> tuple[list[float], list[str]]:
    """The x ticks whose labels start right of the first `reserved` columns, plotext's plot
    area spanning `columns` (first, last) for `x_range`."""
    (low, high), (first, last) = x_range, columns
    kept = [
        (tick, label)
        for tick, label in zip(ticks, labels, strict=True)
        if first + round((tick - low) / (high - low or 1) * (last - first)) - len(label) // 2
        > reserved
    ]
    return [tick for tick, _ in kept], [label for _, label in kept]
