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
