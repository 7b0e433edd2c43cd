"""Status changes of requests, published by the dispatcher to whoever listens in this process (SSE streams).

Listeners in another replica miss these; the SSE handler therefore also re-reads the store now and then, so a
stream is complete whichever process did the work.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from contracts import RequestStatus

__all__ = ["EventHub"]


class EventHub:
    """Fan-out of ``(request_id, status)`` changes to per-request subscriber queues."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[RequestStatus]]] = {}

    def publish(self, request_id: str, status: RequestStatus) -> None:
        """Tell every subscriber of ``request_id`` about its new status."""
        for queue in self._subscribers.get(request_id, ()):
            queue.put_nowait(status)

    @contextlib.contextmanager
    def subscribe(self, request_id: str) -> Iterator[asyncio.Queue[RequestStatus]]:
        """A queue receiving the request's status changes while the context is open."""
        queue: asyncio.Queue[RequestStatus] = asyncio.Queue()
        self._subscribers.setdefault(request_id, set()).add(queue)
        try:
            yield queue
        finally:
            subscribers = self._subscribers.get(request_id)
            if subscribers is not None:
                subscribers.discard(queue)
                if not subscribers:
                    del self._subscribers[request_id]

    def __len__(self) -> int:
        return sum(len(s) for s in self._subscribers.values())
