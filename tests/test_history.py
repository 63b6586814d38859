"""History and the bounded per-step series."""

from __future__ import annotations

import pytest

from trainui.core.history import EPOCH_KEYS, BoundedSeries, History


def test_series_stays_bounded_and_keeps_the_mean() -> None:
    series = BoundedSeries(max_points=64)
    for step in range(1, 100_001):
        series.append(step, float(step % 10))
    assert len(series) < 64
    points = series.points()
    values = [v for _, v in points]
    assert abs(sum(values) / len(values) - 4.5) < 0.1
    assert points[-1][0] > 99_000  # the newest data is at the end


def test_series_keeps_every_point_while_small() -> None:
    series = BoundedSeries(max_points=8)
    for step in range(5):
        series.append(step, step * 2.0)
    assert series.points() == [(0, 0.0), (1, 2.0), (2, 4.0), (3, 6.0), (4, 8.0)]


def test_series_state_round_trip() -> None:
    series = BoundedSeries(max_points=16)
    for step in range(37):
        series.append(step, step)
    copy = BoundedSeries()
    copy.load_state_dict(series.state_dict())
    assert copy.points() == series.points() and copy.bin_size == series.bin_size


def test_series_rejects_odd_sizes() -> None:
    with pytest.raises(ValueError):
        BoundedSeries(max_points=7)


def test_history_rows_and_csv() -> None:
    history = History()
    row = dict.fromkeys(EPOCH_KEYS, 0.5) | {"epoch": 1}
    history.record_epoch(row)
    assert len(history) == 1 and history["val_loss"] == [0.5]
    lines = history.to_csv().splitlines()
    assert lines[0] == ",".join(EPOCH_KEYS)
    assert lines[1].startswith("1,0.5,")
