"""An agency's recent calls for operators: error rate and latency percentiles over the last minutes.

Calls are counted in time slots (ten seconds each, the last five minutes kept): a finished call adds to the current
slot's counts and, while the slot holds fewer than its share of samples, its duration; past that, a duration
replaces a random kept one with the chance that keeps every call of the slot equally likely to be kept (reservoir
sampling). Recording is a few additions on the event loop's thread (no lock); memory is bounded by the number of
slots times the samples each keeps, whatever the traffic. Percentiles are exact while an agency makes fewer calls
than that, and a fair sample of its calls beyond.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import random
import time
from collections.abc import Callable

__all__ = ["RecentCalls", "RecentFigures"]

Clock = Callable[[], float]


@dataclasses.dataclass(frozen=True, slots=True)
class RecentFigures:
    """An agency's calls over the last ``window`` seconds."""

    window: float
    calls: int
    failures: int
    #: Failed calls over calls (0.0 without calls).
    error_rate: float
    #: Call durations in milliseconds; ``None`` without calls.
    p50_ms: float | None
    p95_ms: float | None


@dataclasses.dataclass(slots=True)
class _Slot:
    index: int
    calls: int = 0
    failures: int = 0
    samples: list[float] = dataclasses.field(default_factory=list)


class RecentCalls:
    """Outcomes and durations of recent calls, in ``slot``-second slots over the last ``window`` seconds."""

    def __init__(
        self,
        window: float = 300.0,
        slot: float = 10.0,
        samples_per_slot: int = 256,
        clock: Clock = time.monotonic,
        chance: Callable[[], float] = random.random,
    ) -> None:
        self.window = window
        self._slot = slot
        self._count = max(1, math.ceil(window / slot))
        self._samples = max(1, samples_per_slot)
        self._clock = clock
        self._chance = chance
        #: The slots with calls, oldest first; older ones fall off the left.
        self._slots: collections.deque[_Slot] = collections.deque(maxlen=self._count)

    def record(self, success: bool, ms: float) -> None:
        """Count one finished call that took ``ms`` milliseconds."""
        index = int(self._clock() // self._slot)
        slots = self._slots
        current = slots[-1] if slots else None
        if current is None or current.index != index:
            current = _Slot(index)
            slots.append(current)
        current.calls += 1
        if not success:
            current.failures += 1
        if len(current.samples) < self._samples:
            current.samples.append(ms)
            return
        kept = int(self._chance() * current.calls)
        if kept < self._samples:
            current.samples[kept] = ms

    def figures(self) -> RecentFigures:
        """Calls, failures, error rate and p50/p95 over the slots of the last ``window`` seconds."""
        oldest = int(self._clock() // self._slot) - self._count + 1
        live = [s for s in self._slots if s.index >= oldest]
        calls = sum(s.calls for s in live)
        failures = sum(s.failures for s in live)
        samples = sorted(ms for s in live for ms in s.samples)
        return RecentFigures(
            window=self.window,
            calls=calls,
            failures=failures,
            error_rate=round(failures / calls, 4) if calls else 0.0,
            p50_ms=_percentile(samples, 0.50),
            p95_ms=_percentile(samples, 0.95),
        )


def _percentile(ordered: list[float], share: float) -> float | None:
    """The nearest-rank percentile of sorted values; ``None`` for none."""
    if not ordered:
        return None
    return round(ordered[max(0, math.ceil(share * len(ordered)) - 1)], 1)
