"""The HTTP edge's shared vocabulary: the keys middleware and handlers share, each route's auth policy, and the
middleware stack in the order it runs.

A call passes, outermost first: :func:`~._observe.observe_middleware` (server span, log context, metrics, access
log), :func:`~._rendering.problem_middleware` (every error becomes an RFC 9457 problem), then
:func:`~._auth.auth_middleware` (the route's auth policy, the client's rate). A route needs an authenticated
client unless its handler is marked :func:`public`, so a route added without thought is closed, not open.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web

from ..problems import ProblemCatalog
from ..security import Client, ClientDirectory, ClientRateLimiter, JwtVerifier
from ..telemetry import Telemetry, TraceContext

__all__ = [
    "CLIENT",
    "DIRECTORY",
    "JWT",
    "LIMITER",
    "PROBLEMS",
    "TELEMETRY",
    "TRACE",
    "Handler",
    "client_of",
    "is_ops_only",
    "is_public",
    "ops_only",
    "public",
]

TRACE: web.RequestKey[TraceContext] = web.RequestKey("trace", TraceContext)
CLIENT: web.RequestKey[Client] = web.RequestKey("client", Client)
DIRECTORY: web.AppKey[ClientDirectory] = web.AppKey("directory", ClientDirectory)
PROBLEMS: web.AppKey[ProblemCatalog] = web.AppKey("problems", ProblemCatalog)
TELEMETRY: web.AppKey[Telemetry] = web.AppKey("telemetry", Telemetry)
JWT: web.AppKey[JwtVerifier] = web.AppKey("jwt", JwtVerifier)
LIMITER: web.AppKey[ClientRateLimiter] = web.AppKey("limiter", ClientRateLimiter)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_H = TypeVar("_H", bound=Callable[..., Any])
_PUBLIC_MARK = "__mpp_public__"
_OPS_MARK = "__mpp_ops_only__"


def public(handler: _H) -> _H:
    """Mark a route's handler as answering without a client key (health, metrics, docs, agency callbacks)."""
    setattr(handler, _PUBLIC_MARK, True)
    return handler


def is_public(handler: object) -> bool:
    """Whether a route's handler was marked :func:`public`."""
    return getattr(handler, _PUBLIC_MARK, False) is True


def ops_only(handler: _H) -> _H:
    """Mark a route's handler as answering operations clients only (:attr:`Client.is_ops`): another client gets
    403 ``forbidden``, a caller without credentials 401."""
    setattr(handler, _OPS_MARK, True)
    return handler


def is_ops_only(handler: object) -> bool:
    """Whether a route's handler was marked :func:`ops_only`."""
    return getattr(handler, _OPS_MARK, False) is True


def client_of(request: web.Request) -> Client:
    """The authenticated client of this call."""
    return request[CLIENT]
