"""A gateway process at run time: the runner that serves the app with guarded connections, and its heap made
cheap to collect once it has started.

:class:`GatewayRunner` is aiohttp's :class:`~aiohttp.web.AppRunner` whose connections are counted and timed
(``gateway/http/_connections.py``): header and body timeouts, caps per client address and in all, derived from the
descriptor limit, and failed accepts logged as counted lines instead of a traceback each. It logs the caps once
when set up (``http.connection_limits``).

After start-up, one collection and :func:`gc.freeze`: the modules, models, compiled schemas and settings loaded at
start-up (several hundred thousand objects) leave the collector's generations for good. Left in the oldest
generation they were walked by every full collection: a pause of 25-50 ms on the event loop every few seconds
under load, which every request in flight at that moment waited out (README, "Benchmark").
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import structlog
from aiohttp import web

from ..http import CONNECTIONS, AcceptErrorLog, ConnectionGuard, ConnectionPolicy, GuardedServer, connection_limits

__all__ = ["GatewayRunner", "settle_heap"]

log = structlog.get_logger("gateway.http")


class GatewayRunner(web.AppRunner):
    """Serves ``app`` with the connection policy it carries (``app[CONNECTIONS]``; the defaults without one).

    ``descriptors`` stands in for the process's descriptor limit (tests); by default it is read at set-up.
    """

    def __init__(self, app: web.Application, *, descriptors: int | None = None, **kwargs: Any) -> None:
        self.policy = app.get(CONNECTIONS, ConnectionPolicy())
        kwargs.setdefault("keepalive_timeout", self.policy.keepalive_timeout)
        super().__init__(app, **kwargs)
        self._descriptors = descriptors
        self.guard: ConnectionGuard | None = None
        self._accept_log: AcceptErrorLog | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def setup(self) -> None:
        """Set the app up, then count failed accepts on this loop instead of logging each."""
        await super().setup()
        self._loop = asyncio.get_running_loop()
        self._accept_log = AcceptErrorLog(self._loop.get_exception_handler())
        self._loop.set_exception_handler(self._accept_log)

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        limits = connection_limits(self.policy, self._descriptors)
        self.guard = ConnectionGuard(limits.max_connections, limits.max_per_peer)
        log.info(
            "http.connection_limits",
            descriptors=limits.descriptors,
            reserve=limits.reserve,
            max_connections=limits.max_connections,
            max_connections_per_peer=limits.max_per_peer,
            header_timeout_seconds=self.policy.header_timeout,
            body_timeout_seconds=self.policy.body_timeout,
            keepalive_seconds=self.policy.keepalive_timeout,
        )
        if limits.descriptors is not None and limits.max_connections + limits.reserve > limits.descriptors:
            log.warning(
                "http.descriptors_short",
                descriptors=limits.descriptors,
                reserve=limits.reserve,
                max_connections=limits.max_connections,
            )
        return GuardedServer.around(server, self.guard, self.policy)

    async def cleanup(self) -> None:
        """Close the app, then give the loop its exception handler back."""
        try:
            await super().cleanup()
        finally:
            if self._loop is not None and self._accept_log is not None:
                self._accept_log.counted.close()
                if self._loop.get_exception_handler() is self._accept_log:
                    self._loop.set_exception_handler(self._accept_log.previous)
            if self.guard is not None:
                self.guard.refused.close()


def settle_heap() -> None:
    """Collect once, then keep every object alive now out of all later collections (:func:`gc.freeze`)."""
    gc.collect()
    gc.freeze()
