"""Latency histograms: mergeable, compact, and percentiles within the ±5 % API.md promises."""

from __future__ import annotations

import math
import random

from factory_analytics import histogram


def exact(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def test_percentiles_within_five_percent_of_exact() -> None:
    rng = random.Random(3)
    values = [rng.lognormvariate(5, 1.5) for _ in range(20_000)]  # 1 ms .. minutes
    counts: dict[int, int] = {}
    for v in values:
        b = histogram.bucket_of(v)
        counts[b] = counts.get(b, 0) + 1
    for q, got in zip(
        (0.5, 0.95, 0.99), histogram.percentiles(counts, (0.5, 0.95, 0.99)), strict=True
    ):
        assert abs(got - exact(values, q)) / exact(values, q) <= 0.05


def test_merge_of_blobs_equals_histogram_of_union() -> None:
    a = {histogram.bucket_of(v): 1 for v in (1.0, 10.0)}
    b = {histogram.bucket_of(v): 2 for v in (10.0, 30000.0)}
    merged = histogram.decode(histogram.merge_blobs(histogram.encode(a), histogram.encode(b)))
    assert merged == {
        histogram.bucket_of(1.0): 1,
        histogram.bucket_of(10.0): 3,
        histogram.bucket_of(30000.0): 2,
    }
    assert histogram.merge_blobs(None, None) == b""


def test_empty_and_extreme_values() -> None:
    assert histogram.percentiles({}, (0.5,)) == [None]
    assert histogram.bucket_of(0.0) == 0
    assert histogram.bucket_of(1e15) == histogram.MAX_BUCKET
    assert len(histogram.encode({3: 5, 200: 1})) == 10  # 5 bytes per used bucket
