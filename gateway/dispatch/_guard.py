"""Per-agency protection: circuit breaker, concurrency limit (bulkhead) with its waiting line, rate limit, and
retry budget.

Each is a small value with an injectable clock, so tests drive time instead of waiting for it. The dispatcher
takes one of the agency's :class:`Permits` before it runs a request for the agency, asks an :class:`AgencyGuard`
before every call and tells it how the call ended.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import datetime as dt
import enum
import math
import time
from collections.abc import Callable, Mapping

from ._window import RecentCalls

__all__ = [
    "AgencyGuard",
    "AgencyPolicy",
    "AgencyRateLimiter",
    "BreakerState",
    "CircuitBreaker",
    "Failure",
    "Permits",
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
    #: Requests of the agency run at once, so also calls in flight to it at once: one permit each.
    concurrency: int = 32
    #: Requests that may wait for a permit. With every permit taken and this many waiting the agency is
    #: saturated: a lookup for it is refused at once (``503 agency-saturated``), queued work stays in the store.
    queue_limit: int = 64
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


#: Circuit changes a breaker keeps until they are recorded in the store (service levels).
TRANSITIONS_KEPT = 256


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
        #: When (on the breaker's clock) the current state began; ``None`` while closed since the start.
        self.since: float | None = None
        #: Changes not yet taken by :meth:`AgencyGuard.take_transitions`: ``(since, state)``, the oldest dropped
        #: first should nobody take them.
        self.transitions: collections.deque[tuple[float, BreakerState]] = collections.deque(maxlen=TRANSITIONS_KEPT)

    @property
    def state(self) -> BreakerState:
        """The current state; an open breaker whose cool-down has passed reads as half-open."""
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self._policy.breaker_open_seconds:
            self._state = BreakerState.HALF_OPEN
            self._probes_in_flight = 0
            self.changes += 1
            self.since = self._opened_at + self._policy.breaker_open_seconds
            self.transitions.append((self.since, BreakerState.HALF_OPEN))
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
        self.since = now
        self.transitions.append((now, BreakerState.OPEN))

    def _close(self) -> None:
        self._state = BreakerState.CLOSED
        self._events.clear()
        self._failures = 0
        self.changes += 1
        self.since = self._clock()
        self.transitions.append((self.since, BreakerState.CLOSED))


#: How long a place promised to a request being stored is kept for it (the insert commits well within it).
PROMISE_SECONDS = 5.0


class Permits:
    """``limit`` permits handed out first come, first served, and a line of at most ``queue_limit`` waiting for one.

    :meth:`join` answers at once, without waiting: a future that resolves when the caller holds a permit (already
    resolved when one was free), or ``None`` when the line is full. Whoever joined gives back exactly once, with
    :meth:`leave`, whether it got the permit, still waits, or gave up. A place may be kept (:meth:`promise`) for
    a request that is still being stored, so that requests arriving together cannot all pass the bound.
    """

    def __init__(self, limit: int, queue_limit: int | None = None, clock: Clock = time.monotonic) -> None:
        self.limit = max(1, limit)
        #: ``None``: the line has no bound.
        self.queue_limit = None if queue_limit is None else max(0, queue_limit)
        self.held = 0
        self._line: collections.deque[asyncio.Future[None]] = collections.deque()
        self._clock = clock
        #: When each promised place lapses, oldest first.
        self._promised: collections.deque[float] = collections.deque()
        self._vacant = asyncio.Event()
        self._vacant.set()

    @property
    def waiting(self) -> int:
        """How many wait in line for a permit."""
        return len(self._line)

    @property
    def free(self) -> int:
        """Permits nobody holds."""
        return self.limit - self.held

    @property
    def promised(self) -> int:
        """Places promised to requests still being stored."""
        now = self._clock()
        while self._promised and self._promised[0] <= now:
            self._promised.popleft()
        return len(self._promised)

    @property
    def saturated(self) -> bool:
        """No room: permits held, waiting and promised places reach ``limit + queue_limit``.

        Without promises this is: every permit is held and ``queue_limit`` wait in line.
        """
        if self.queue_limit is None:
            return False
        return self.held + len(self._line) + self.promised >= self.limit + self.queue_limit

    def promise(self) -> bool:
        """Keep a place for a request about to be stored (for :data:`PROMISE_SECONDS`); ``False`` when saturated."""
        if self.saturated:
            return False
        self._promised.append(self._clock() + PROMISE_SECONDS)
        return True

    def join(self, *, force: bool = False, promised: bool = False) -> asyncio.Future[None] | None:
        """Take a permit, or a place in line for one; ``None`` when saturated, unless ``force`` (wait anyway).

        ``promised``: the caller was promised a place; it takes it up (the oldest promise still kept).
        """
        if promised and self.promised:
            self._promised.popleft()
        if self.saturated and not force:
            return None
        return self.enter()

    def enter(self) -> asyncio.Future[None]:
        """Take a permit, or a place in line for one however long the line is."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.held < self.limit and not self._line:
            self._take()
            fut.set_result(None)
        else:
            self._line.append(fut)
        return fut

    def leave(self, fut: asyncio.Future[None]) -> None:
        """Give back what ``fut`` got from :meth:`join`: its permit, passed on to the next in line, or its place."""
        if fut.done() and not fut.cancelled():
            self._release()
            return
        fut.cancel()
        with contextlib.suppress(ValueError):
            self._line.remove(fut)

    async def vacancy(self) -> None:
        """Return once a permit is free (without taking it)."""
        while self.held >= self.limit:
            await self._vacant.wait()

    def _take(self) -> None:
        self.held += 1
        if self.held >= self.limit:
            self._vacant.clear()

    def _release(self) -> None:
        while self._line:
            nxt = self._line.popleft()
            if not nxt.done():
                nxt.set_result(None)  # the permit passes on: ``held`` stays
                return
        self.held -= 1
        self._vacant.set()


class AgencyRateLimiter:
    """A token bucket: ``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: int, clock: Clock = time.monotonic) -> None:
        self._rate = rate
        self._burst = float(max(1, burst))
        self._tokens = self._burst
        self._clock = clock
        self._stamp = clock()

    def state(self) -> dict[str, float | int]:
        """``{"per_second", "burst", "available"}``: the limit and the tokens saved up now; empty without a limit."""
        if self._rate <= 0:
            return {}
        tokens = min(self._burst, self._tokens + (self._clock() - self._stamp) * self._rate)
        return {"per_second": self._rate, "burst": int(self._burst), "available": round(max(0.0, tokens), 1)}

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
        """Count a first attempt (and forget those older than the window: the record stays as long as the window's
        calls, whether or not any retry comes to trim it)."""
        now = self._clock()
        self._trim(now)
        self._calls.append(now)

    def __len__(self) -> int:
        """Calls and retries held: those of the last window, at most."""
        return len(self._calls) + len(self._retries)

    def try_retry(self) -> bool:
        """Spend budget on a retry; ``False`` when the budget is exhausted."""
        now = self._clock()
        self._trim(now)
        allowed = self._policy.budget_min_retries + self._policy.budget_ratio * len(self._calls)
        if len(self._retries) >= allowed:
            return False
        self._retries.append(now)
        return True


#: How many recent failures an :class:`AgencyGuard` keeps for operators (oldest dropped first).
FAILURES_KEPT = 50


@dataclasses.dataclass(frozen=True, slots=True)
class Failure:
    """One failed call to an agency, as operators see it: names and classes only, never personal data."""

    #: Unix time the call ended.
    at: float
    #: The outcome class (``transient``, ``ambiguous``, ``misconfigured``, ...).
    outcome: str
    #: What went wrong, in a few words: ``timeout``, ``http 503``, ``connection refused``.
    cause: str
    #: The problem type the failure leads to: ``agency-unavailable``, ``agency-outcome-unknown``, ...
    problem: str

    def as_dict(self) -> dict[str, object]:
        """``{"at", "cause", "problem"}`` with ``at`` in ISO 8601 (UTC)."""
        at = dt.datetime.fromtimestamp(self.at, dt.UTC).isoformat()
        return {"at": at, "cause": self.cause, "problem": self.problem}


@dataclasses.dataclass
class AgencyGuard:
    """Everything that protects one agency, with the figures ``GET /v1/agencies`` shows."""

    agency: str
    policy: AgencyPolicy
    breaker: CircuitBreaker
    limiter: AgencyRateLimiter
    budget: RetryBudget
    #: One per request being run for the agency, with the line of requests waiting for one.
    permits: Permits
    #: Calls in flight to the agency.
    in_flight: int = 0
    calls: int = 0
    failures: int = 0
    retries_denied: int = 0
    fast_failures: int = 0
    #: Lookups refused at acceptance because the agency was saturated.
    saturated_refusals: int = 0
    latency_ewma_ms: float = 0.0
    #: The last :data:`FAILURES_KEPT` failed calls, oldest first.
    recent_failures: collections.deque[Failure] = dataclasses.field(
        default_factory=lambda: collections.deque(maxlen=FAILURES_KEPT)
    )
    #: The guard's monotonic clock and the wall clock, to tell operators when a circuit changed.
    clock: Clock = time.monotonic
    wall: Clock = time.time
    #: Outcomes and durations of the last minutes' calls (error rate, p50/p95 for operators).
    recent: RecentCalls = dataclasses.field(default_factory=RecentCalls)

    @classmethod
    def build(
        cls, agency: str, policy: AgencyPolicy, clock: Clock = time.monotonic, wall: Clock = time.time
    ) -> AgencyGuard:
        """A guard with fresh state."""
        return cls(
            agency=agency,
            policy=policy,
            breaker=CircuitBreaker(policy, clock),
            limiter=AgencyRateLimiter(policy.rate_per_second, policy.rate_burst, clock),
            budget=RetryBudget(policy, clock),
            permits=Permits(policy.concurrency, policy.queue_limit, clock),
            clock=clock,
            wall=wall,
            recent=RecentCalls(clock=clock),
        )

    def failed(self, outcome: str, cause: str, problem: str) -> None:
        """Keep one failed call in the bounded record operators read (:meth:`causes`, ``last_failure``)."""
        self.recent_failures.append(Failure(self.wall(), outcome, cause, problem))

    def causes(self, limit: int = 3, *, within: float | None = None) -> dict[str, int]:
        """The last ``limit`` distinct causes of failure, newest first, each with how often the record holds it
        (only the failures of the last ``within`` seconds, when given)."""
        kept = list(self.recent_failures)
        if within is not None:
            horizon = self.wall() - within
            kept = [f for f in kept if f.at >= horizon]
        counts = collections.Counter(f.cause for f in kept)
        newest: dict[str, int] = {}
        for failure in reversed(kept):
            if failure.cause not in newest:
                newest[failure.cause] = counts[failure.cause]
                if len(newest) == limit:
                    break
        return newest

    @property
    def last_failure(self) -> Failure | None:
        """The most recent failed call, if any is kept."""
        return self.recent_failures[-1] if self.recent_failures else None

    def circuit_since(self) -> str | None:
        """When the circuit entered its current state (ISO 8601, UTC); ``None`` when closed since the start."""
        _ = self.breaker.state  # an open circuit past its cool-down turns half-open here, and says since when
        since = self.breaker.since
        if since is None:
            return None
        at = self.wall() - (self.clock() - since)
        return dt.datetime.fromtimestamp(at, dt.UTC).isoformat()

    def take_transitions(self) -> list[tuple[dt.datetime, str]]:
        """The circuit changes since the last call, oldest first, as ``(when, state)`` by the wall clock (UTC)."""
        _ = self.breaker.state  # an open circuit past its cool-down turns half-open here
        taken = []
        while self.breaker.transitions:
            since, state = self.breaker.transitions.popleft()
            at = self.wall() - (self.clock() - since)
            taken.append((dt.datetime.fromtimestamp(at, dt.UTC), state.value))
        return taken

    def circuit_state(self) -> tuple[dt.datetime, str]:
        """The circuit's state now, by the wall clock (UTC)."""
        return dt.datetime.fromtimestamp(self.wall(), dt.UTC), self.breaker.state.value

    def saturation_delay(self) -> int:
        """Seconds before a saturated agency likely has room again: about one call at its recent latency, at least 1."""
        return max(1, math.ceil(self.latency_ewma_ms / 1000))

    def observe(self, success: bool, elapsed: float) -> None:
        """Record one finished call (breaker, counters, latency)."""
        self.calls += 1
        if not success:
            self.failures += 1
        self.breaker.record(success)
        ms = elapsed * 1000
        self.recent.record(success, ms)
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
            "waiting": self.permits.waiting,
            "queue_limit": self.policy.queue_limit,
            "saturated": self.permits.saturated,
            "calls": self.calls,
            "failures": self.failures,
            "error_rate": round(self.failures / self.calls, 4) if self.calls else 0.0,
            "latency_ewma_ms": round(self.latency_ewma_ms, 1),
            "retries_denied": self.retries_denied,
            "fast_failures": self.fast_failures,
            "saturated_refusals": self.saturated_refusals,
            "circuit_since": self.circuit_since(),
            "last_failure": last.as_dict() if (last := self.last_failure) is not None else None,
            # Over the last minutes (``recent``), not since the start like ``calls`` and ``error_rate``.
            "calls_5m": (recent := self.recent.figures()).calls,
            "error_rate_5m": recent.error_rate,
            "p50_ms": recent.p50_ms,
            "p95_ms": recent.p95_ms,
            "rate_limit": self.limiter.state(),
        }
