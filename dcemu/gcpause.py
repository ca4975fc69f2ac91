"""Pausing Python's cyclic garbage collector around bulk work.

A bulk load (``Directory.batch()``) or a replication cycle allocates hundreds of thousands of
small containers (decoded values, stamps, cached objects) that stay alive.  CPython's collector
runs on allocation counts and, as these survivors pile up, repeatedly walks all of them looking
for cycles that are not there: measured at 23% of an initial sync and 5% of a bulk user load
(benchmarks/bench_replication.py, bench_directory.py).  Reference counting still frees
everything promptly while the collector is paused; only cycles wait until it resumes.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_depth = 0


@contextmanager
def collector_paused() -> Iterator[None]:
    """Disable the cyclic collector for the block (nestable); restore its previous state after."""
    global _depth
    was_enabled = gc.isenabled() if _depth == 0 else None
    _depth += 1
    gc.disable()
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and was_enabled:
            gc.enable()
