"""Mergeable latency histograms (HdrHistogram) as the run folder stores them.

One definition of range and precision for the load generator that writes them and the report that
merges them: microseconds, 1 us to 1 h, 3 significant digits.
"""

from __future__ import annotations

from collections.abc import Iterable

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000
SIGNIFICANT_DIGITS = 3


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def record_seconds(hist: HdrHistogram, seconds: float) -> None:
    """Record a latency; values beyond the range are clamped so that nothing is dropped silently.

    The count goes where hdrh's record_value() puts it, by the same arithmetic in one function (its
    record_value() takes six Python calls, and the emulator records four latencies per message); the
    clamp keeps the index inside the counts (tests/test_histograms.py holds the two to the same
    encoding)."""
    us = min(max(int(seconds * 1_000_000), LOWEST_US), HIGHEST_US)
    unit = hist.unit_magnitude
    half = hist.sub_bucket_half_count_magnitude
    bucket = (us | hist.sub_bucket_mask).bit_length() - unit - half - 1
    hist.counts[((bucket + 1) << half) + (us >> (bucket + unit)) - hist.sub_bucket_half_count] += 1
    hist.total_count += 1
    if us < hist.min_value:
        hist.min_value = us
    if us > hist.max_value:
        hist.max_value = us


def encode(hist: HdrHistogram) -> str:
    return hist.encode().decode("ascii")


def decode(text: str) -> HdrHistogram:
    return HdrHistogram.decode(text.encode("ascii"))


def merge(encoded: Iterable[str]) -> HdrHistogram:
    total = new_histogram()
    for text in encoded:
        if text:
            total.add(decode(text))
    return total


def percentile_seconds(hist: HdrHistogram, percentile: float) -> float | None:
    """The percentile in seconds, or None for an empty histogram."""
    if hist.get_total_count() == 0:
        return None
    return hist.get_value_at_percentile(percentile) / 1_000_000
