import random

import pytest

from harness.core import histograms

pytestmark = pytest.mark.unit


def test_merge_of_windows_equals_one_histogram_of_all_values():
    a, b, whole = histograms.new_histogram(), histograms.new_histogram(), histograms.new_histogram()
    for i in range(1, 1001):
        seconds = i / 1000
        histograms.record_seconds(a if i % 2 else b, seconds)
        histograms.record_seconds(whole, seconds)
    merged = histograms.merge([histograms.encode(a), histograms.encode(b), ""])
    assert merged.get_total_count() == 1000
    assert histograms.percentile_seconds(merged, 99) == histograms.percentile_seconds(whole, 99)
    assert abs(histograms.percentile_seconds(merged, 99) - 0.99) < 0.001


def test_out_of_range_values_are_clamped_not_dropped():
    h = histograms.new_histogram()
    histograms.record_seconds(h, 0)
    histograms.record_seconds(h, 10 * 3600)
    assert h.get_total_count() == 2
    assert histograms.percentile_seconds(histograms.new_histogram(), 99) is None


def test_record_seconds_counts_exactly_where_hdrh_record_value_does():
    rng = random.Random(7)
    ours, reference = histograms.new_histogram(), histograms.new_histogram()
    edges = [0, 1e-6, 2047e-6, 2048e-6, 4095e-6, 4096e-6, 0.5, 1.0, 59.999999, 3600.0, 7200.0]
    values = edges + [10 ** rng.uniform(-6.5, 3.6) for _ in range(50_000)]
    for seconds in values:
        histograms.record_seconds(ours, seconds)
        reference.record_value(min(max(int(seconds * 1_000_000), histograms.LOWEST_US), histograms.HIGHEST_US))
    assert histograms.encode(ours) == histograms.encode(reference)
    assert (ours.get_total_count(), ours.get_min_value(), ours.get_max_value()) == (
        reference.get_total_count(),
        reference.get_min_value(),
        reference.get_max_value(),
    )
    for p in (1, 50, 99, 99.9, 100):
        assert ours.get_value_at_percentile(p) == reference.get_value_at_percentile(p)
