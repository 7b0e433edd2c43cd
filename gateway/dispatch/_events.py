"""Status changes of requests, published by the dispatcher to whoever listens in this process (SSE streams).

Listeners in another replica miss these; the SSE handler therefore also re-reads the store now and then, so a
stream is complete whichever process did the work.

Each open stream costs a connection, a subscriber queue and a store read every sweep interval, so the hub also
counts them: per client and in all, each with its cap (:meth:`EventHub.open_stream`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator

from contracts import RequestStatus

__all__ = ["EventHub", "StreamLimitReached"]


class StreamLimitReached(Exception):
    """A new event stream would pass a cap: ``scope`` is ``"client"`` (the caller's own) or ``"total"``."""

    def __init__(self, scope: str, limit: int) -> None:
        super().__init__(f"{scope} event stream limit {limit} reached")
        self.scope = scope
        self.limit = limit


class EventHub:
    """Fan-out of ``(request_id, status)`` changes to per-request subscriber queues; the count of open streams.

    ``max_streams`` and ``max_streams_per_client`` cap concurrent streams in this process; 0 leaves one unlimited.
    """

    def __init__(self, *, max_streams: int = 0, max_streams_per_client: int = 0) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[RequestStatus]]] = {}
        self.max_streams = max_streams
        self.max_streams_per_client = max_streams_per_client
        self._streams: dict[str, int] = {}
        self._stream_total = 0

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

    def open_stream(self, client_id: str) -> Callable[[], None]:
        """Count one more event stream of ``client_id``, or raise :class:`StreamLimitReached` (the client's own
        cap is checked first). Returns the function that ends the count; calling it again does nothing."""
        held = self._streams.get(client_id, 0)
        if self.max_streams_per_client and held >= self.max_streams_per_client:
            raise StreamLimitReached("client", self.max_streams_per_client)
        if self.max_streams and self._stream_total >= self.max_streams:
            raise StreamLimitReached("total", self.max_streams)
        self._streams[client_id] = held + 1
        self._stream_total += 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            self._stream_total -= 1
            left = self._streams[client_id] - 1
            if left:
                self._streams[client_id] = left
            else:
                del self._streams[client_id]

        return release

    def open_streams(self, client_id: str | None = None) -> int:
        """Event streams open now: of ``client_id``, or in all."""
        return self._stream_total if client_id is None else self._streams.get(client_id, 0)

    def __len__(self) -> int:
        return sum(len(s) for s in self._subscribers.values())

    def __bool__(self) -> bool:
        # A hub without subscribers is still a hub (``hub or EventHub()`` must keep a configured one).
        return True
