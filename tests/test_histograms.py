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


def test_lowest_equivalent_value_is_hdrhistograms_own_across_buckets_and_clamped():
    hist = histograms.new_histogram()
    values = [1, 2047, 2048, 2049, 4095, 4096, 4097, 123_456, 10**9, histograms.HIGHEST_US]
    values += [(1 << k) + d for k in range(11, 31) for d in (-1, 0, 1, 777)]
    for us in values:
        assert histograms.lowest_equivalent_us(us) == hist.get_lowest_equivalent_value(us)
    assert histograms.lowest_equivalent_us(-5) == histograms.LOWEST_US == histograms.lowest_equivalent_us(0)
    assert histograms.lowest_equivalent_us(10**12) == hist.get_lowest_equivalent_value(histograms.HIGHEST_US)


def test_recording_a_batch_gives_the_histogram_of_one_record_each():
    one_by_one, batched = histograms.new_histogram(), histograms.new_histogram()
    values = [int(1.0003**i) + i % 7 for i in range(40_000)] + [0, -3, 10**12]
    for us in values:
        one_by_one.record_value(min(max(us, histograms.LOWEST_US), histograms.HIGHEST_US))
    histograms.record_many_us(batched, values)
    assert histograms.encode(batched) == histograms.encode(one_by_one)
    assert batched.get_total_count() == len(values)
    for p in (0, 50, 99, 99.9, 100):
        assert batched.get_value_at_percentile(p) == one_by_one.get_value_at_percentile(p)
    assert (batched.get_min_value(), batched.get_max_value()) == (
        one_by_one.get_min_value(),
        one_by_one.get_max_value(),
    )


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
