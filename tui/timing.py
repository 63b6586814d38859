"""Durations and time estimates, derived from event timestamps only.

Nothing here reads the wall clock: callers pass `now` from an injectable clock, so what
the screen shows is a pure function of the events and that clock (deterministic tests).
"""

from __future__ import annotations

from trainui.core.formats import duration as format_duration

__all__ = ["format_clock", "format_duration", "seconds_per_step"]


def format_clock(seconds: float) -> str:
    """`HH:MM:SS` since the run started, for log timestamps."""
    minutes, secs = divmod(max(0, int(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"


def seconds_per_step(
    active_seconds: float,
    steps_measured: int,
    mean_epoch_seconds: float | None,
    steps_per_epoch: int,
) -> float | None:
    """Mean seconds per training step; None until there is something to measure.

    Once an epoch has ended its duration is used, because it includes validation, which
    the step rate alone would miss.
    """
    if mean_epoch_seconds is not None and steps_per_epoch > 0:
        return mean_epoch_seconds / steps_per_epoch
    if steps_measured > 0 and active_seconds > 0:
        return active_seconds / steps_measured
    return None
