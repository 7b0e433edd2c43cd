"""Webhook delivery: at least once, signed, retried with backoff, each with an event id for de-duplication.

Deliveries are rows written in the same transaction as the status they announce, so a crash between the two
cannot lose one. The receiver verifies ``X-MPP-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret,
"<t>.<body>")>`` with its client's webhook secret and drops repeats by ``X-MPP-Event-Id``.

Every delivery passes the callback policy first (``gateway/security/_callbacks.py``): the URL again (the
settings or the client's origins may have changed since acceptance), then every address its host resolves to.
The host is resolved once and the connection goes to the checked address, the host name kept in ``Host`` and in
TLS (SNI and certificate check); through a proxy, the host is checked the same way before the proxy is handed
the name. A refused delivery connects nowhere and is given up at once, its reason recorded.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
import socket
import time
from collections.abc import Mapping

import httpx
import structlog

from adapters import ProxySettings

from ..security import CallbackPolicy, CallbackRefused, Client, Resolver, ascii_host, system_resolver
from ..store import Webhook, WebhookOutbox

__all__ = ["WebhookSender", "sign"]

log = structlog.get_logger("gateway.webhooks")

_GAVE_UP = 1e12  # a next_at no sweep ever reaches
_PORTS = {"http": 80, "https": 443}


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
        policy: CallbackPolicy | None = None,
        proxies: ProxySettings | None = None,
        resolver: Resolver = system_resolver,
    ) -> None:
        self._store = store
        self._transport = transport
        self._clients = clients
        #: Where callbacks may go; unset, https to public addresses only.
        self._policy = policy or CallbackPolicy()
        #: The proxies ``transport`` routes through: a callback sent through one is not pinned to an address.
        self._proxies = proxies or ProxySettings()
        self._resolver = resolver
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
        delivered = refused = False
        if client is None or not client.webhook_secret:
            error: str | None = "the client has no webhook secret any more"
        else:
            try:
                delivered, error = await self._send(webhook, client, client.webhook_secret)
            except CallbackRefused as exc:
                refused, error = True, f"refused: the callback URL {exc}"
        attempts = webhook.attempts + 1
        if delivered:
            next_at = time.time()
        elif refused:
            next_at = _GAVE_UP
            log.warning("webhook.refused", webhook_id=webhook.id, request_id=webhook.request_id, reason=error)
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

    async def _send(self, webhook: Webhook, client: Client, secret: str) -> tuple[bool, str | None]:
        """POST the webhook once: whether the receiver took it, else why not. :class:`CallbackRefused` when the
        policy refuses the URL or an address of its host, before anything connects."""
        url = self._policy.check(webhook.url, client.callback_origins)
        body = webhook.body.encode()
        host = ascii_host(url)
        proxied = self._proxies.proxy_for(url.scheme, host) is not None
        try:
            async with asyncio.timeout(self._timeout):
                address = await self._policy.pinned_address(host, url.port or _PORTS[url.scheme], self._resolver)
                request = httpx.Request(
                    "POST",
                    # Through a proxy the proxy connects, by name: the check above is all the gateway can do.
                    url if proxied else url.copy_with(host=address),
                    content=body,
                    headers={
                        "Host": url.netloc.decode("ascii"),
                        "Content-Type": "application/json",
                        "X-MPP-Event-Id": webhook.id,
                        "X-MPP-Signature": sign(secret, int(time.time()), body),
                        "User-Agent": "mpp-gateway-webhooks",
                    },
                    extensions={
                        "timeout": dict.fromkeys(("connect", "read", "write", "pool"), self._timeout),
                        # TLS: the name to send (SNI) and to find in the receiver's certificate.
                        "sni_hostname": host,
                    },
                )
                response = await self._transport.handle_async_request(request)
                await response.aclose()
        except socket.gaierror:
            return False, "the callback host did not resolve"
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            # The transport's own error says more (httpx-aiohttp maps a refused certificate to ConnectTimeout).
            cause = f" ({type(exc.__cause__).__name__})" if exc.__cause__ is not None else ""
            return False, f"{type(exc).__name__}{cause}"
        if 200 <= response.status_code < 300:
            return True, None
        return False, f"receiver answered {response.status_code}"
