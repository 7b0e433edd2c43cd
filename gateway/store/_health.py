"""Whether the store takes writes: a write that failed for want of space or write access marks it unwritable for a
while, a write that succeeds marks it writable again at once; readiness (:meth:`Store.ping`) reports it."""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from ._port import StoreUnavailable

__all__ = ["WriteHealth"]

log = structlog.get_logger("gateway.store")


class WriteHealth:
    """The outcome of a store's latest writes, shared by its write paths and its readiness check."""

    def __init__(
        self, hold: float = StoreUnavailable.retry_after, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._hold = hold
        self._clock = clock
        self._failed_at: float | None = None

    def failed(self, reason: str) -> None:
        """A write failed for want of space or write access (``reason`` names the kind, never any data)."""
        if self._failed_at is None:
            log.error("store.unwritable", reason=reason)
        self._failed_at = self._clock()

    def succeeded(self) -> None:
        """A write was committed: the store takes writes again."""
        if self._failed_at is not None:
            self._failed_at = None
            log.warning("store.writable")

    @property
    def writable(self) -> bool:
        """False until ``hold`` seconds after the latest failed write, unless a write succeeded since."""
        return self._failed_at is None or self._clock() - self._failed_at >= self._hold
