"""Event streams for browsers: ``POST /v1/requests/{id}/stream-token`` issues a stream token, and a route marked
:func:`accepts_stream_token` takes one as ``?token=`` in place of the ``Authorization`` header ``EventSource``
cannot send. No other route reads a token from the query, and no route reads an API key from it.

The token (:mod:`gateway.security._stream_tokens`) is bound to the client and the request; the route still checks,
as for any client, that the request is visible to it.
"""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
import structlog
from aiohttp import web

from ..problems import ApiProblem
from ..security import Client, InvalidStreamToken, StreamTokens
from ..store import RequestStore
from ._edge import CLIENT, DIRECTORY, client_of

__all__ = ["STREAM_TOKENS", "accepts_stream_token", "client_by_stream_token", "stream_token_routes"]

STREAM_TOKENS: web.AppKey[StreamTokens] = web.AppKey("stream_tokens", StreamTokens)

_H = TypeVar("_H")
_MARK = "__mpp_stream_token__"
_CHALLENGE = 'Bearer realm="mpp-gateway", error="invalid_token"'


def accepts_stream_token(handler: _H) -> _H:
    """Mark a route's handler (with a ``{request_id}`` or ``{journey_id}`` in its path) as opened by a stream token
    as well."""
    setattr(handler, _MARK, True)
    return handler


def client_by_stream_token(request: web.Request) -> Client | None:
    """The client of the call's ``?token=``, on a route that takes one; ``None`` where there is none to take.

    A token that does not open this route's request is a 401, not a fall-back to other credentials.
    """
    if getattr(request.match_info.handler, _MARK, False) is not True or "token" not in request.query:
        return None
    try:
        client = _redeem(request)
    except InvalidStreamToken as exc:
        raise ApiProblem("unauthorized", str(exc), headers={"WWW-Authenticate": _CHALLENGE}) from None
    request[CLIENT] = client
    structlog.contextvars.bind_contextvars(client=client.id)
    return client


def _redeem(request: web.Request) -> Client:
    tokens = request.app.get(STREAM_TOKENS)
    if tokens is None:
        raise InvalidStreamToken("stream tokens are not enabled")
    # A token is bound to one request or one journey: their ids never coincide (``req_`` / ``jrn_``).
    bound_to = request.match_info.get("request_id") or request.match_info.get("journey_id", "")
    client_id = tokens.redeem(request.query["token"], bound_to)
    client = request.app[DIRECTORY].clients.get(client_id)
    if client is None:  # removed from the clients file since
        raise InvalidStreamToken("the stream token's client is not known")
    return client


def stream_token_routes(store: RequestStore) -> list[web.RouteDef]:
    """The route issuing stream tokens for requests of ``store``; it needs :data:`STREAM_TOKENS` on the app."""

    async def issue_stream_token(request: web.Request) -> web.Response:
        """``POST /v1/requests/{id}/stream-token``: a token opening the request's event stream once, shortly."""
        client = client_of(request)
        request_id = request.match_info["request_id"]
        row = await store.get(request_id, with_attempts=False)
        if row is None or not client.may_read(row.client_id, row.mpp_id):
            raise ApiProblem("not-found", "no request with this id for this client")
        issued = request.app[STREAM_TOKENS].issue(client.id, request_id)
        body: dict[str, Any] = {
            "token": issued.token,
            "expires_in": max(0, round(issued.expires_in)),
            "events_url": f"/v1/requests/{request_id}/events?token={issued.token}",
        }
        return web.Response(
            body=orjson.dumps(body), content_type="application/json", headers={"Cache-Control": "no-store"}
        )

    return [web.post("/v1/requests/{request_id}/stream-token", issue_stream_token)]
