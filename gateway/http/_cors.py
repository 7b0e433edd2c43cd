"""Cross-origin calls from counter apps that are web pages (CORS): the preflight, and the headers of every answer.

Each client lists the origins its pages are served from (``cors_origins`` in the clients file). A preflight carries
no key, so it cannot name a client: it is answered for an origin that any client lists, without authentication,
before :func:`~._auth.auth_middleware`. The answer to the call itself carries ``Access-Control-Allow-Origin`` only
when the authenticated client lists the ``Origin``; a call that authenticated no one (a 401, a public route)
carries it for an origin any client lists, so the page can read the problem. Nothing rides on cookies, so
``Access-Control-Allow-Credentials`` is never sent and no answer allows ``*``.

The answer's headers are set as it is prepared (``on_response_prepare``), so problems rendered by
:func:`~._rendering.problem_middleware` and event streams a handler starts itself get them too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import structlog
from aiohttp import hdrs, web

from ..problems import ApiProblem
from ..security import Client
from ._edge import CLIENT, Handler

__all__ = ["ALLOWED_HEADERS", "CORS", "EXPOSED_HEADERS", "CorsPolicy", "cors_middleware", "enable_cors"]

log = structlog.get_logger("gateway.http")

#: Request headers a page may send: the key, the body's type, the API's preferences, trace context, and
#: ``Last-Event-ID`` (sent by ``EventSource`` when it reconnects).
ALLOWED_HEADERS = (
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "Prefer",
    "traceparent",
    "tracestate",
    "X-Request-Id",
    "Last-Event-ID",
)
#: Answer headers a page may read beyond the CORS-safelisted ones.
EXPOSED_HEADERS = (
    "Location",
    "Retry-After",
    "Preference-Applied",
    "Idempotent-Replayed",
    "WWW-Authenticate",
    "X-Request-Id",
    "traceresponse",
)
#: Seconds a browser may reuse a preflight's answer; a change to the clients file reaches pages within this.
MAX_AGE_SECONDS = 600
_SKIPPED_METHODS = {hdrs.METH_HEAD, hdrs.METH_OPTIONS, hdrs.METH_ANY}


@dataclasses.dataclass(frozen=True)
class CorsPolicy:
    """The origins any client lists: what a preflight, and an answer to no one in particular, may be read by."""

    origins: frozenset[str] = frozenset()

    @classmethod
    def for_clients(cls, clients: Iterable[Client]) -> CorsPolicy:
        """Every origin any of ``clients`` lists."""
        return cls(frozenset(origin for client in clients for origin in client.cors_origins))

    def allows(self, origin: str, client: Client | None) -> bool:
        """Whether a page at ``origin`` may read the answer to a call ``client`` made (``None``: no one's)."""
        return origin in client.cors_origins if client is not None else origin in self.origins


CORS: web.AppKey[CorsPolicy] = web.AppKey("cors", CorsPolicy)


def enable_cors(app: web.Application, clients: Iterable[Client]) -> None:
    """Let the pages of ``clients``' origins call ``app`` (whose middlewares include :func:`cors_middleware`)."""
    app[CORS] = CorsPolicy.for_clients(clients)
    app.on_response_prepare.append(_answer_headers)


def is_preflight(request: web.Request) -> bool:
    """A browser's preflight: ``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``."""
    return (
        request.method == hdrs.METH_OPTIONS
        and hdrs.ORIGIN in request.headers
        and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers
    )


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer a preflight from a listed origin without authentication; refuse one from any other with a 403."""
    if not is_preflight(request):
        return await handler(request)
    policy = request.app.get(CORS, CorsPolicy())
    origin = request.headers[hdrs.ORIGIN]
    if not policy.allows(origin, None):
        log.info("cors.origin_refused", origin=origin[:200])
        raise ApiProblem(
            "forbidden", "pages of this origin may not call the gateway; a client's cors_origins must list it"
        )
    return web.Response(
        status=204,
        headers={
            hdrs.ACCESS_CONTROL_ALLOW_ORIGIN: origin,
            hdrs.ACCESS_CONTROL_ALLOW_METHODS: ", ".join(_methods(request.app)),
            hdrs.ACCESS_CONTROL_ALLOW_HEADERS: ", ".join(ALLOWED_HEADERS),
            hdrs.ACCESS_CONTROL_MAX_AGE: str(MAX_AGE_SECONDS),
            hdrs.VARY: hdrs.ORIGIN,
        },
    )


async def _answer_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Let the page read this answer when the policy allows its origin; ``Vary: Origin`` on every answer, since
    whether it may be read depends on it."""
    if is_preflight(request):
        return
    vary = response.headers.get(hdrs.VARY, "")
    if "origin" not in vary.lower():
        response.headers[hdrs.VARY] = f"{vary}, {hdrs.ORIGIN}" if vary else hdrs.ORIGIN
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is not None and request.app[CORS].allows(origin, request.get(CLIENT)):
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
        response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = ", ".join(EXPOSED_HEADERS)


def _methods(app: web.Application) -> list[str]:
    """The methods the app serves on some route."""
    return sorted({route.method for route in app.router.routes()} - _SKIPPED_METHODS)
