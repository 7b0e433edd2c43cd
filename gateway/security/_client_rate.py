"""Per-client request rate: one token bucket per client, in this process.

Each client may make ``rate`` calls per second on average and ``burst`` at once. Buckets are made once, when the
limiter is built from the client directory, so the check on every call allocates nothing but a float or two. The
limit holds per replica: behind a load balancer over ``n`` replicas a client gets up to ``n`` times its rate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

from ._api_keys import Client

__all__ = ["ClientRateLimiter", "TokenBucket"]


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; each call takes one."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def take(self, now: float) -> float:
        """Take one token: ``0.0`` when there was one, else the seconds until there will be."""
        tokens = self.tokens + (now - self.stamp) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        self.stamp = now
        if tokens >= 1.0:
            self.tokens = tokens - 1.0
            return 0.0
        self.tokens = tokens
        return (1.0 - tokens) / self.rate


class ClientRateLimiter:
    """The buckets of every rate-limited client, by client id; clients without a bucket are unlimited."""

    def __init__(
        self,
        clients: Iterable[Client],
        *,
        default_rate: float = 0.0,
        default_burst: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        now = clock()
        self._buckets: dict[str, TokenBucket] = {}
        for client in clients:
            rate = default_rate if client.rate_per_second is None else client.rate_per_second
            if rate <= 0:
                continue  # 0 means unlimited
            burst = default_burst if client.rate_burst is None else client.rate_burst
            # Without a burst of its own, a client may spend one second's worth at once (and at least one call).
            self._buckets[client.id] = TokenBucket(rate, float(burst) if burst >= 1 else max(1.0, rate), now)

    def __contains__(self, client_id: object) -> bool:
        return client_id in self._buckets

    def retry_after(self, client_id: str) -> int:
        """Take a token for ``client_id``: ``0`` when the call may go ahead, else whole seconds to wait (>= 1)."""
        bucket = self._buckets.get(client_id)
        if bucket is None:
            return 0
        wait = bucket.take(self._clock())
        return math.ceil(wait) if wait > 0.0 else 0
