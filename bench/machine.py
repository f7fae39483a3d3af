"""How fast this machine was during a bench run, for comparing runs made on other days.

The benches run on a shared machine whose speed varies several-fold from day to day; every
figure moves with it, peers included. A fixed pure-Python loop's CPU time, taken with each
run and written beside its numbers, tells a slower machine from slower code.
"""

from __future__ import annotations

import time

REFERENCE_STEPS = 10_000_000


def cpu_reference() -> float:
    """CPU seconds of a fixed pure-Python loop of REFERENCE_STEPS additions."""
    started = time.process_time()
    total = 0
    for i in range(REFERENCE_STEPS):
        total += i
    return time.process_time() - started
