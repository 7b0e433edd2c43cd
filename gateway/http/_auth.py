"""Authentication at the edge: each route's policy, API keys or the identity provider's JWT, and the client's rate."""

from __future__ import annotations

import structlog
from aiohttp import web

from ..problems import ApiProblem
from ..security import Client, InvalidToken, bearer_token, looks_like_jwt
from ._edge import CLIENT, DIRECTORY, JWT, LIMITER, Handler, is_ops_only, is_public
from ._stream_auth import client_by_stream_token

__all__ = ["auth_middleware", "authenticate", "require_client"]

_CHALLENGE = 'Bearer realm="mpp-gateway"'
# RFC 6750: a bearer credential was presented and is not valid (as opposed to none presented).
_INVALID_CREDENTIAL = 'Bearer realm="mpp-gateway", error="invalid_token"'


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate the client and hold it to its rate, unless the route is public.

    An unmatched path or method is not public: a caller without a key learns nothing about which routes exist.
    """
    handler_of_route = request.match_info.handler
    if not is_public(handler_of_route):
        client = await authenticate(request)
        if is_ops_only(handler_of_route) and not client.is_ops:
            raise ApiProblem("forbidden", "this route answers operations clients only (a client with the ops role)")
        limiter = request.app.get(LIMITER)
        if limiter is not None and (wait := limiter.retry_after(client.id)):
            raise ApiProblem(
                "rate-limited",
                f"this client's request rate is exceeded; try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )
    return await handler(request)


async def authenticate(request: web.Request) -> Client:
    """Authenticate the caller by API key or, when configured, by the identity provider's JWT; else answer 401.

    On a route that takes one, a stream token in the query (``?token=``) stands in for both.
    """
    known: Client | None = request.get(CLIENT)
    if known is not None:
        return known
    if (streaming := client_by_stream_token(request)) is not None:
        return streaming
    verifier = request.app.get(JWT)
    if verifier is not None:
        token = bearer_token(request.headers.get("Authorization"))
        if token is not None and looks_like_jwt(token):
            try:
                client = await verifier.client_for(token, request.app[DIRECTORY].clients)
            except InvalidToken as exc:
                raise ApiProblem("unauthorized", str(exc), headers={"WWW-Authenticate": _INVALID_CREDENTIAL}) from None
            request[CLIENT] = client
            structlog.contextvars.bind_contextvars(client=client.id)
            return client
    return require_client(request)


def require_client(request: web.Request) -> Client:
    """Authenticate the caller by bearer API key, or answer 401."""
    known: Client | None = request.get(CLIENT)
    if known is not None:
        return known
    authorization = request.headers.get("Authorization")
    client = request.app[DIRECTORY].authenticate(authorization)
    if client is None:
        raise ApiProblem(
            "unauthorized",
            "present a valid API key as 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": _INVALID_CREDENTIAL if bearer_token(authorization) else _CHALLENGE},
        )
    request[CLIENT] = client
    structlog.contextvars.bind_contextvars(client=client.id)
    return client
