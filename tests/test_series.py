"""The one bounded series, downsampler and smoother that the core and the view share."""

from __future__ import annotations

import math

import pytest

from trainui.core.series import BoundedSeries, Smoother, downsample


class TestBoundedSeries:
    def test_memory_stays_flat_over_a_million_steps(self) -> None:
        """A million appended points never hold more than `capacity` stored points, and the
        mean of what is kept is the mean of what went in."""
        series = BoundedSeries(capacity=1024)
        for step in range(1, 1_000_001):
            series.append(step, float(step % 10))
            assert len(series) <= 1025
        xs, ys = series.points()
        assert abs(sum(ys) / len(ys) - 4.5) < 0.1
        assert xs[-1] > 999_000 and series.last == (1_000_000, 0.0)

    def test_every_point_is_kept_while_small(self) -> None:
        """Below capacity the series is exactly what was appended."""
        series = BoundedSeries(capacity=8)
        for step in range(5):
            series.append(step, step * 2.0)
        assert series.points() == ([0, 1, 2, 3, 4], [0.0, 2.0, 4.0, 6.0, 8.0])

    def test_merging_averages_neighbours(self) -> None:
        """Halving averages x and y in pairs; the partly filled bin comes last, as its mean."""
        series = BoundedSeries(capacity=4)
        for step, value in enumerate([1.0, 3.0, 5.0, 7.0, 9.0]):
            series.append(step, value)
        assert series.bin_size == 2
        assert series.points() == ([0.5, 2.5, 4.0], [2.0, 6.0, 9.0])

    def test_state_round_trip(self) -> None:
        """What a checkpoint stores restores the same points, bin size and last point."""
        series = BoundedSeries(capacity=16)
        for step in range(37):
            series.append(step, step)
        copy = BoundedSeries()
        copy.load_state_dict(series.state_dict())
        assert copy.points() == series.points() and copy.bin_size == series.bin_size
        assert copy.last == series.last

    @pytest.mark.parametrize("capacity", [2, 5, 7])
    def test_small_or_odd_capacity_is_rejected(self, capacity: int) -> None:
        """Pairwise halving needs an even capacity of at least 4."""
        with pytest.raises(ValueError):
            BoundedSeries(capacity=capacity)


class TestDownsample:
    def test_short_series_are_unchanged(self) -> None:
        """Fewer points than the limit: nothing to do."""
        assert downsample([1, 2], [3, 4], 10) == ([1, 2], [3, 4])

    def test_long_series_fit_and_keep_the_last_point(self) -> None:
        """At most `most` points; the final one is the exact last point."""
        xs = list(range(10_001))
        ys = [float(x) for x in xs]
        out_x, out_y = downsample(xs, ys, 80)
        assert len(out_x) <= 80
        assert (out_x[-1], out_y[-1]) == (10_000, 10_000.0)
        assert out_y == sorted(out_y)

    def test_bins_are_means_placed_at_their_last_x(self) -> None:
        """Each point but the last averages a run of inputs and sits at the run's end."""
        out_x, out_y = downsample([1, 2, 3, 4, 5], [10.0, 20.0, 30.0, 40.0, 50.0], 3)
        assert out_x == [2, 4, 5] and out_y == [15.0, 35.0, 50.0]


def test_smoother_is_debiased_and_skips_non_finite() -> None:
    """The first smoothed value equals the first input; NaN passes through untouched."""
    smoother = Smoother(0.9)
    assert smoother.update(2.0) == pytest.approx(2.0)
    assert math.isnan(smoother.update(float("nan")))
    assert 1.0 < smoother.update(1.0) < 2.0
