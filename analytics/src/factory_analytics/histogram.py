"""Log-scale latency histograms that can be merged, stored as compact blobs and queried for
percentiles.

Why histograms: percentiles cannot be added up, but histograms can. Each hourly rollup row
keeps one, so p50/p95/p99 over any window of whole hours is a merge of a few thousand small
blobs instead of a sort over millions of raw rows. Bucket bounds grow by 2^(1/8) (about 9 %),
and a percentile is reported as the geometric middle of its bucket: within ±5 % of exact.
"""

from __future__ import annotations

import math
import struct
from bisect import bisect_left
from collections.abc import Iterable

STEPS_PER_DOUBLING = 8
BASE_MS = 0.1  # bucket 0 holds everything up to 0.1 ms
MAX_BUCKET = 255  # 0.1 ms * 2^(255/8) is about 40 days: nothing real is slower
_PAIR = struct.Struct("<BI")


def _upper_bound(index: int) -> float:
    return BASE_MS * 2 ** (index / STEPS_PER_DOUBLING)


# upper bounds of buckets 0..MAX_BUCKET-1; bisect on them is the hot path of ingestion
_BOUNDS = [_upper_bound(i) for i in range(MAX_BUCKET)]


def bucket_of(duration_ms: float) -> int:
    """Index of the bucket holding `duration_ms` (bucket i holds (bound[i-1], bound[i]])."""
    return bisect_left(_BOUNDS, duration_ms)


def bucket_value(index: int) -> float:
    """Representative value of a bucket: the geometric middle of its bounds."""
    if index == 0:
        return BASE_MS
    return BASE_MS * 2 ** ((index - 0.5) / STEPS_PER_DOUBLING)


def encode(counts: dict[int, int]) -> bytes:
    """Sparse blob: (bucket u8, count u32) pairs in bucket order."""
    return b"".join(_PAIR.pack(b, n) for b, n in sorted(counts.items()) if n)


def decode(blob: bytes | None) -> dict[int, int]:
    """Inverse of `encode`; an empty or missing blob is an empty histogram."""
    if not blob:
        return {}
    return dict(_PAIR.iter_unpack(blob))


def merge_into(target: dict[int, int], blob: bytes | None) -> None:
    """Add the counts of `blob` into `target` in place (the hot loop of every query)."""
    if not blob:
        return
    for bucket, count in _PAIR.iter_unpack(blob):
        target[bucket] = target.get(bucket, 0) + count


def merge_blobs(a: bytes | None, b: bytes | None) -> bytes:
    """SQLite function `hist_merge(a, b)`: used by the rollup upserts."""
    counts = decode(a)
    merge_into(counts, b)
    return encode(counts)


def percentiles(counts: dict[int, int], quantiles: Iterable[float]) -> list[float | None]:
    """Nearest-rank percentiles of a histogram (None for an empty one)."""
    total = sum(counts.values())
    wanted = list(quantiles)
    if total == 0:
        return [None for _ in wanted]
    ordered = sorted(counts.items())
    results: list[float | None] = []
    for q in wanted:
        rank = max(1, math.ceil(q * total))
        seen = 0
        for bucket, count in ordered:
            seen += count
            if seen >= rank:
                results.append(round(bucket_value(bucket), 1))
                break
    return results
