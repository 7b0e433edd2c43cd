"""Webhook delivery: at least once, signed, retried with backoff, each with an event id for de-duplication.

Deliveries are rows written in the same transaction as the status they announce, so a crash between the two
cannot lose one. The receiver verifies ``X-MPP-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret,
"<t>.<body>")>`` with its client's webhook secret and drops repeats by ``X-MPP-Event-Id``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
import time
from collections.abc import Mapping

import httpx
import structlog

from ..security import Client
from ..store import Webhook, WebhookOutbox

__all__ = ["WebhookSender", "sign"]

log = structlog.get_logger("gateway.webhooks")

_GAVE_UP = 1e12  # a next_at no sweep ever reaches


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-MPP-Signature`` header value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class WebhookSender:
    """Polls the store for due deliveries and sends them through the shared outbound transport."""

    def __init__(
        self,
        store: WebhookOutbox,
        transport: httpx.AsyncBaseTransport,
        clients: Mapping[str, Client],
        *,
        max_attempts: int = 20,
        interval: float = 1.0,
        timeout: float = 10.0,
    ) -> None:
        self._store = store
        self._transport = transport
        self._clients = clients
        self._max_attempts = max_attempts
        self._interval = interval
        self._timeout = timeout
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start delivering in the background."""
        self._task = asyncio.create_task(self._loop(), name="webhooks")

    async def stop(self) -> None:
        """Stop delivering; undelivered rows stay in the store for the next start."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                due = await self._store.due_webhooks(limit=50)
                if due:
                    await asyncio.gather(*(self.deliver(w) for w in due))
            except Exception:  # keep delivering; the rows stay due
                log.warning("webhook.sweep_failed", exc_info=True)
            await asyncio.sleep(self._interval)

    def _backoff(self, attempts: int) -> float:
        return float(min(3600.0, 5.0 * 2 ** min(attempts, 12)) * random.uniform(0.5, 1.0))  # noqa: S311 - jitter only

    async def deliver(self, webhook: Webhook) -> bool:
        """Try one delivery and record the outcome; ``True`` when the receiver answered 2xx."""
        client = self._clients.get(webhook.client_id)
        body = webhook.body.encode()
        error: str | None = None
        delivered = False
        if client is None or not client.webhook_secret:
            error = "the client has no webhook secret any more"
        else:
            request = httpx.Request(
                "POST",
                webhook.url,
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "X-MPP-Event-Id": webhook.id,
                    "X-MPP-Signature": sign(client.webhook_secret, int(time.time()), body),
                    "User-Agent": "mpp-gateway-webhooks",
                },
                extensions={"timeout": dict.fromkeys(("connect", "read", "write", "pool"), self._timeout)},
            )
            try:
                async with asyncio.timeout(self._timeout):
                    response = await self._transport.handle_async_request(request)
                    await response.aclose()
                delivered = 200 <= response.status_code < 300
                if not delivered:
                    error = f"receiver answered {response.status_code}"
            except (httpx.HTTPError, OSError, TimeoutError) as exc:
                error = f"{type(exc).__name__}"
        attempts = webhook.attempts + 1
        if delivered:
            next_at = time.time()
        elif attempts >= self._max_attempts:
            next_at = _GAVE_UP
            error = f"gave up after {attempts} attempts: {error}"
            log.error("webhook.abandoned", webhook_id=webhook.id, request_id=webhook.request_id, reason=error)
        else:
            next_at = time.time() + self._backoff(attempts)
        await self._store.webhook_tried(webhook.id, delivered=delivered, next_at=next_at, error=error)
        log.info("webhook.tried", webhook_id=webhook.id, request_id=webhook.request_id, delivered=delivered,
                 attempts=attempts)  # fmt: skip
        return delivered
