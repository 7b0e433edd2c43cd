"""Running requests: the dispatcher, one request's execution, the per-agency guard (breaker, bulkhead, rate, retry
budget), retry policies, status events and webhook delivery."""

from __future__ import annotations

from ._dispatcher import Dispatcher, RetryPolicy
from ._guard import AgencyPolicy, AgencyRateLimiter, BreakerState, CircuitBreaker, RetryBudget
from ._retry import policies_from_settings
from ._webhooks import WebhookSender

__all__ = [
    "AgencyPolicy",
    "AgencyRateLimiter",
    "BreakerState",
    "CircuitBreaker",
    "Dispatcher",
    "RetryBudget",
    "RetryPolicy",
    "WebhookSender",
    "policies_from_settings",
]
