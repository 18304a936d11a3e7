"""Mergeable latency histograms (HdrHistogram) as the run folder stores them.

One definition of range and precision for the load generator that writes them and the report that
merges them: microseconds, 1 us to 1 h, 3 significant digits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000
SIGNIFICANT_DIGITS = 3


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


# values below 2**SUB_BUCKET_BITS us are exact; above, a value is kept to its top SUB_BUCKET_BITS bits
SUB_BUCKET_BITS = 11  # 2 * 10**SIGNIFICANT_DIGITS rounded up to a power of two: 2048 sub-buckets


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


def lowest_equivalent_us(us: int) -> int:
    """The smallest value the histogram cannot tell from `us` (clamped to the range): HdrHistogram's
    lowest equivalent value, in plain integer arithmetic."""
    us = min(max(us, LOWEST_US), HIGHEST_US)
    shift = us.bit_length() - SUB_BUCKET_BITS
    return us if shift <= 0 else (us >> shift) << shift


def record_many_us(hist: HdrHistogram, values_us: Iterable[int]) -> None:
    """Record many latencies (integer microseconds, clamped to the range) at once: the same histogram as
    one record_value each, for one record per distinct bucket (a record is about 2 us of Python)."""
    for value, count in Counter(map(lowest_equivalent_us, values_us)).items():
        hist.record_value(value, count)


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
