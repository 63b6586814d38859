"""How each quantity is written for people: one format per quantity, for the live view,
headless lines and reports alike (files such as history.csv keep full precision).
"""

from __future__ import annotations

import math

SCORES = ("precision", "recall", "f1")
"""Names of classification scores, shown as fractions of 1 (`test_f1 0.9931`)."""


def number(value: float | None) -> str:
    """A loss or any other scalar: four significant digits (`0.07000`, `1.179`, `369.2`),
    with an exponent when that would hide it (`1.000e-05`, `1.234e+04`)."""
    if value is None:
        return "n/a"
    if not math.isfinite(value):
        return str(value)
    return f"{value:#.4g}".rstrip(".").replace(".e", "e")


loss = number
"""A loss value."""


def percent(value: float | None) -> str:
    """An accuracy (a fraction of 1) as a percentage: `97.78%`."""
    if value is None:
        return "n/a"
    if not math.isfinite(value):
        return str(value)
    return f"{100 * value:.2f}%"


def score(value: float | None) -> str:
    """Precision, recall or F1: a fraction of 1 to four decimals, `0.9931`."""
    if value is None:
        return "n/a"
    return f"{value:.4f}" if math.isfinite(value) else str(value)


def learning_rate(value: float | None) -> str:
    """A learning rate, three significant digits: `0.001`, `3e-05`."""
    return "n/a" if value is None else f"{value:.3g}"


def metric(name: str | None, value: float | None) -> str:
    """A named metric in its quantity's format: accuracies (`*acc*`) as percentages, scores
    as fractions, `lr` as a learning rate, anything else (losses) as a number."""
    lowered = (name or "").lower()
    if "acc" in lowered:
        return percent(value)
    if any(part in lowered for part in SCORES):
        return score(value)
    if lowered in ("lr", "learning_rate"):
        return learning_rate(value)
    return number(value)


def duration(seconds: float | None) -> str:
    """A span of a run (elapsed, ETA, time to finish): `0:07`, `1:05`, `1:02:03`; `--:--`
    when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "--:--"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def seconds(value: float) -> str:
    """A short time (an epoch, a pause) in seconds to a tenth: `7.5s`."""
    return f"{value:.1f}s"


def rate(samples_per_second: float) -> str:
    """Training speed: `1,813 samples/s`."""
    return f"{samples_per_second:,.0f} samples/s"
