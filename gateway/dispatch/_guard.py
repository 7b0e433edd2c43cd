"""Per-agency protection: circuit breaker, concurrency limit (bulkhead), rate limit, and retry budget.

Each is a small value with an injectable clock, so tests drive time instead of waiting for it. The dispatcher
asks an :class:`AgencyGuard` before every call and tells it how the call ended.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import enum
import time
from collections.abc import Callable, Mapping

__all__ = [
    "AgencyGuard",
    "AgencyPolicy",
    "AgencyRateLimiter",
    "BreakerState",
    "CircuitBreaker",
    "RetryBudget",
]

Clock = Callable[[], float]


@dataclasses.dataclass(frozen=True)
class AgencyPolicy:
    """How one agency is protected: data, read from ``MPP_AGENCY__<AGENCY>__<NAME>`` settings."""

    #: The breaker opens when at least ``breaker_min_calls`` calls in ``breaker_window`` seconds failed at a
    #: rate of ``breaker_failure_rate`` or more, stays open ``breaker_open_seconds``, then lets
    #: ``breaker_probes`` probe calls through (half-open).
    breaker_failure_rate: float = 0.5
    breaker_min_calls: int = 10
    breaker_window: float = 30.0
    breaker_open_seconds: float = 15.0
    breaker_probes: int = 2
    #: Calls in flight to the agency at once.
    concurrency: int = 32
    #: The agency's own rate limit (calls per second, burst); 0 means none.
    rate_per_second: float = 0.0
    rate_burst: int = 10
    #: Retries may be at most this fraction of calls over ``budget_window`` seconds, plus ``budget_min_retries``.
    budget_ratio: float = 0.2
    budget_min_retries: int = 3
    budget_window: float = 10.0

    @classmethod
    def from_settings(cls, values: Mapping[str, str]) -> AgencyPolicy:
        """Read overrides such as ``breaker_failure_rate`` or ``concurrency`` from an agency's settings."""
        defaults = cls()
        kwargs: dict[str, float | int] = {}
        for field in dataclasses.fields(cls):
            raw = values.get(field.name)
            if raw is None:
                continue
            kwargs[field.name] = int(raw) if isinstance(getattr(defaults, field.name), int) else float(raw)
        return cls(**kwargs)  # type: ignore[arg-type]


class BreakerState(enum.StrEnum):
    """The three states of a circuit breaker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Counts outcomes over a time window; opens on a failure rate, probes after a cool-down."""

    def __init__(self, policy: AgencyPolicy, clock: Clock = time.monotonic) -> None:
        self._policy = policy
        self._clock = clock
        self._events: collections.deque[tuple[float, bool]] = collections.deque()
        self._failures = 0
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._probes_in_flight = 0
        self.changes = 0

    @property
    def state(self) -> BreakerState:
        """The current state; an open breaker whose cool-down has passed reads as half-open."""
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self._policy.breaker_open_seconds:
            self._state = BreakerState.HALF_OPEN
            self._probes_in_flight = 0
            self.changes += 1
        return self._state

    def retry_after(self) -> float:
        """Seconds until the breaker lets a probe through (0 when it is not open)."""
        if self.state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._policy.breaker_open_seconds - (self._clock() - self._opened_at))

    def allow(self) -> bool:
        """Whether a call may go out now; in half-open, counts the probe."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and self._probes_in_flight < self._policy.breaker_probes:
            self._probes_in_flight += 1
            return True
        return False

    def record(self, success: bool) -> None:
        """Record how an allowed call ended."""
        now = self._clock()
        state = self.state
        if state is BreakerState.HALF_OPEN:
            self._probes_in_flight = max(0, self._probes_in_flight - 1)
            if success:
                self._close()
            else:
                self._open(now)
            return
        if state is BreakerState.OPEN:
            return
        self._events.append((now, success))
        if not success:
            self._failures += 1
        self._trim(now)
        total = len(self._events)
        if total >= self._policy.breaker_min_calls and self._failures / total >= self._policy.breaker_failure_rate:
            self._open(now)

    def _trim(self, now: float) -> None:
        horizon = now - self._policy.breaker_window
        while self._events and self._events[0][0] < horizon:
            _, ok = self._events.popleft()
            if not ok:
                self._failures -= 1

    def _open(self, now: float) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = now
        self._events.clear()
        self._failures = 0
        self.changes += 1

    def _close(self) -> None:
        self._state = BreakerState.CLOSED
        self._events.clear()
        self._failures = 0
        self.changes += 1


class AgencyRateLimiter:
    """A token bucket: ``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: int, clock: Clock = time.monotonic) -> None:
        self._rate = rate
        self._burst = float(max(1, burst))
        self._tokens = self._burst
        self._clock = clock
        self._stamp = clock()

    def delay(self) -> float:
        """Take a token; returns how long to wait before using it (0 when one was available)."""
        if self._rate <= 0:
            return 0.0
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self._rate


class RetryBudget:
    """Retries at most ``ratio`` of calls over a window (plus a floor), so retries never multiply an outage."""

    def __init__(self, policy: AgencyPolicy, clock: Clock = time.monotonic) -> None:
        self._policy = policy
        self._clock = clock
        self._calls: collections.deque[float] = collections.deque()
        self._retries: collections.deque[float] = collections.deque()

    def _trim(self, now: float) -> None:
        horizon = now - self._policy.budget_window
        for events in (self._calls, self._retries):
            while events and events[0] < horizon:
                events.popleft()

    def record_call(self) -> None:
        """Count a first attempt."""
        self._calls.append(self._clock())

    def try_retry(self) -> bool:
        """Spend budget on a retry; ``False`` when the budget is exhausted."""
        now = self._clock()
        self._trim(now)
        allowed = self._policy.budget_min_retries + self._policy.budget_ratio * len(self._calls)
        if len(self._retries) >= allowed:
            return False
        self._retries.append(now)
        return True


@dataclasses.dataclass
class AgencyGuard:
    """Everything that protects one agency, with the figures ``GET /v1/agencies`` shows."""

    agency: str
    policy: AgencyPolicy
    breaker: CircuitBreaker
    limiter: AgencyRateLimiter
    budget: RetryBudget
    semaphore: asyncio.Semaphore
    in_flight: int = 0
    calls: int = 0
    failures: int = 0
    retries_denied: int = 0
    fast_failures: int = 0
    latency_ewma_ms: float = 0.0

    @classmethod
    def build(cls, agency: str, policy: AgencyPolicy, clock: Clock = time.monotonic) -> AgencyGuard:
        """A guard with fresh state."""
        return cls(
            agency=agency,
            policy=policy,
            breaker=CircuitBreaker(policy, clock),
            limiter=AgencyRateLimiter(policy.rate_per_second, policy.rate_burst, clock),
            budget=RetryBudget(policy, clock),
            semaphore=asyncio.Semaphore(policy.concurrency),
        )

    def observe(self, success: bool, elapsed: float) -> None:
        """Record one finished call (breaker, counters, latency)."""
        self.calls += 1
        if not success:
            self.failures += 1
        self.breaker.record(success)
        ms = elapsed * 1000
        self.latency_ewma_ms = ms if self.calls == 1 else 0.9 * self.latency_ewma_ms + 0.1 * ms

    def snapshot(self) -> dict[str, object]:
        """The agency's health as ``GET /v1/agencies`` shows it."""
        state = self.breaker.state
        return {
            "agency": self.agency,
            "circuit": state.value,
            "retry_after": round(self.breaker.retry_after(), 1),
            "in_flight": self.in_flight,
            "concurrency_limit": self.policy.concurrency,
            "calls": self.calls,
            "failures": self.failures,
            "error_rate": round(self.failures / self.calls, 4) if self.calls else 0.0,
            "latency_ewma_ms": round(self.latency_ewma_ms, 1),
            "retries_denied": self.retries_denied,
            "fast_failures": self.fast_failures,
        }
