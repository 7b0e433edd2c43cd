"""Metrics observed into plain numbers and applied to their Prometheus metrics in batches.

A ``prometheus_client`` observation takes a lock and, with several workers, writes into a memory-mapped file.
A tally in front of a metric keeps the same ``labels(...).inc()`` / ``.observe()`` / ``.set()`` shape but only
adds to numbers held per label values; :meth:`Tally.flush` applies what accumulated to the real metrics, which stay
what ``/metrics`` exports (names, help, labels, buckets and multiprocess modes unchanged).

Observations are tallied on one thread only, the owner's (the event loop's once :meth:`Tally.start` ran there),
and flushes happen on it too, so nothing needs a lock. ``labels()`` on any other thread hands out the real
metric's child, which observes directly.
"""

from __future__ import annotations

import asyncio
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any, Generic, Protocol, TypeVar

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric

__all__ = ["CounterChild", "GaugeChild", "HistogramChild", "Tally", "TallyCounter", "TallyGauge", "TallyHistogram"]


class CounterChild(Protocol):
    """What ``labels()`` of a counter gives: something to add to."""

    def inc(self, amount: float = 1) -> None: ...


class HistogramChild(Protocol):
    """What ``labels()`` of a histogram gives: something to observe into."""

    def observe(self, amount: float) -> None: ...


class GaugeChild(Protocol):
    """What ``labels()`` of a tallied gauge gives: something to set."""

    def set(self, value: float) -> None: ...


class _Flushable(Protocol):
    def flush(self) -> None: ...


class Tally:
    """The owner thread of a group of tallied metrics, their flush, and the timer that flushes them."""

    def __init__(self) -> None:
        #: The thread whose observations are tallied; any other observes directly.
        self.owner = threading.get_ident()
        self._metrics: list[_Flushable] = []
        self._timer: asyncio.TimerHandle | None = None

    def flush(self) -> None:
        """Apply every tallied observation to its Prometheus metric (on the owner thread; elsewhere nothing)."""
        if threading.get_ident() != self.owner:
            return
        for metric in self._metrics:
            metric.flush()

    def start(self, interval: float) -> None:
        """From the running event loop: tally its thread's observations and flush every ``interval`` seconds."""
        self.flush()
        self.owner = threading.get_ident()
        if self._timer is None:
            self._schedule(asyncio.get_running_loop(), interval)

    def stop(self) -> None:
        """Stop the timer and flush what is left."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.flush()

    def counter(self, metric: Counter) -> TallyCounter:
        """A tally in front of ``metric``."""
        return self._add(TallyCounter(metric, self))

    def histogram(self, metric: Histogram) -> TallyHistogram:
        """A tally in front of ``metric``."""
        return self._add(TallyHistogram(metric, self))

    def gauge(self, metric: Gauge) -> TallyGauge:
        """A tally in front of ``metric``, whose children are set (the last value set wins)."""
        return self._add(TallyGauge(metric, self))

    def collector(self) -> _FlushOnCollect:
        """A collector exporting nothing that flushes when collected. Registered before the metrics, it makes
        whoever reads the registry (``generate_latest``, ``get_sample_value``) read everything observed before."""
        return _FlushOnCollect(self)

    def _add(self, metric: _M) -> _M:
        self._metrics.append(metric)
        return metric

    def _schedule(self, loop: asyncio.AbstractEventLoop, interval: float) -> None:
        self._timer = loop.call_later(interval, self._tick, loop, interval)

    def _tick(self, loop: asyncio.AbstractEventLoop, interval: float) -> None:
        self._schedule(loop, interval)  # first: a flush that fails does not end the timer
        self.flush()


class _FlushOnCollect:
    def __init__(self, tally: Tally) -> None:
        self._tally = tally

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        self._tally.flush()
        return []


class _CounterTally:
    __slots__ = ("pending", "target")

    def __init__(self, target: Any) -> None:
        self.target = target
        self.pending = 0.0

    def inc(self, amount: float = 1) -> None:
        if amount < 0:
            raise ValueError("Counters can only be incremented by non-negative amounts.")
        self.pending += amount

    def flush(self) -> None:
        if self.pending:
            amount, self.pending = self.pending, 0.0
            self.target.inc(amount)


class _HistogramTally:
    __slots__ = ("bounds", "counts", "sum", "target")

    def __init__(self, target: Any) -> None:
        self.target = target
        self.bounds: list[float] = list(target._upper_bounds)  # ascending, +Inf last
        self.counts = [0] * len(self.bounds)
        self.sum = 0.0

    def observe(self, amount: float) -> None:
        self.sum += amount
        # The first bucket whose upper bound is at least ``amount``: the one ``Histogram.observe`` picks.
        self.counts[bisect_left(self.bounds, amount)] += 1

    def flush(self) -> None:
        if not any(self.counts):
            return
        counts, total = self.counts, self.sum
        self.counts, self.sum = [0] * len(counts), 0.0
        # ``Histogram.observe`` adds the amount to ``_sum`` and one to a bucket: here one add per bucket.
        self.target._sum.inc(total)
        for bucket, count in zip(self.target._buckets, counts, strict=True):
            if count:
                bucket.inc(count)


class _GaugeTally:
    __slots__ = ("pending", "target")

    def __init__(self, target: Any) -> None:
        self.target = target
        self.pending: float | None = None

    def set(self, value: float) -> None:
        self.pending = float(value)

    def flush(self) -> None:
        if self.pending is not None:
            value, self.pending = self.pending, None
            self.target.set(value)


_C = TypeVar("_C", _CounterTally, _HistogramTally, _GaugeTally)
_M = TypeVar("_M", bound=_Flushable)


class _TallyMetric(Generic[_C]):
    """A metric's tallies, one per label values, each holding the real metric's child it flushes into."""

    #: The tally one label set's child gets (set by each subclass).
    _new: Callable[[Any], _C]

    def __init__(self, metric: Any, tally: Tally) -> None:
        #: The exported metric.
        self.metric = metric
        self._tally = tally
        self._children: dict[tuple[object, ...], _C] = {}

    def _child(self, values: tuple[object, ...]) -> Any:
        if threading.get_ident() != self._tally.owner:
            return self.metric.labels(*values)
        child = self._children.get(values)
        if child is None:  # the real child now: its labels are checked where they are given
            child = self._children[values] = self._new(self.metric.labels(*values))
        return child

    def flush(self) -> None:
        """Apply what was tallied to the real metric."""
        for child in self._children.values():
            child.flush()


class TallyCounter(_TallyMetric[_CounterTally]):
    """A counter's ``labels(...).inc()``, tallied."""

    def labels(self, *values: object) -> CounterChild:
        """The child counting for ``values``."""
        child: CounterChild = self._child(values)
        return child

    _new = _CounterTally


class TallyHistogram(_TallyMetric[_HistogramTally]):
    """A histogram's ``labels(...).observe()``, tallied per bucket."""

    def labels(self, *values: object) -> HistogramChild:
        """The child observing for ``values``."""
        child: HistogramChild = self._child(values)
        return child

    _new = _HistogramTally


class TallyGauge(_TallyMetric[_GaugeTally]):
    """A set gauge's ``labels(...).set()``, tallied: the last value set before a flush is the one applied."""

    def labels(self, *values: object) -> GaugeChild:
        """The child set for ``values``."""
        child: GaugeChild = self._child(values)
        return child

    _new = _GaugeTally
