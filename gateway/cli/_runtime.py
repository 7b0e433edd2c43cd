"""A gateway process's heap, made cheap to collect once the process has started.

After start-up, one collection and :func:`gc.freeze`: the modules, models, compiled schemas and settings loaded at
start-up (several hundred thousand objects) leave the collector's generations for good. Left in the oldest
generation they were walked by every full collection: a pause of 25-50 ms on the event loop every few seconds
under load, which every request in flight at that moment waited out (README, "Benchmark").
"""

from __future__ import annotations

import gc

__all__ = ["settle_heap"]


def settle_heap() -> None:
    """Collect once, then keep every object alive now out of all later collections (:func:`gc.freeze`)."""
    gc.collect()
    gc.freeze()
