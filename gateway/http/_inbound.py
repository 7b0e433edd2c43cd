"""Every adapter's inbound routes on the app (:class:`adapters.InboundRoute`): where each mounts, who may call it,
how much of the body is read, and how the adapter's answer goes out.

An agency's route (``/<agency><path>``) is :func:`~._edge.public`: the adapter's handler authenticates the agency.
A client's route (``/v1/<agency><path>``) is authenticated like every API route, and its ``grant`` is checked here,
before the handler runs. The body is read up to the route's ``max_body`` (the API's limit by default) and a longer
one is answered with the route's ``too_large`` response, else a 413 problem. The handler's
:class:`~adapters.InboundResponse` is sent as is; a problem of a type the gateway knows is raised as an
:class:`~gateway.problems.ApiProblem` instead, so it is rendered, masked and traced like every other problem.

The handler is told the caller's address (:attr:`~adapters.InboundRequest.peer`) as the socket reports it: the
gateway has no trusted-proxy setting, so ``X-Forwarded-For`` and ``Forwarded`` are never believed (anyone can write
them). A refusal the handler names (:attr:`~adapters.InboundResponse.refusal`) is counted in
``mpp_inbound_refusals_total{agency,route,reason}``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence

import orjson
import structlog
from aiohttp import web

from adapters import Adapter, InboundRequest, InboundResponse, InboundRoute
from contracts import FieldError

from ..problems import DEFAULT_PROBLEMS, ApiProblem
from ._edge import PROBLEMS, TELEMETRY, Handler, client_of, public

__all__ = ["MountedRoute", "inbound_routes", "mount_inbound"]

log = structlog.get_logger("gateway.http")

_PROBLEM = "application/problem+json"
#: First path segments of the gateway's own routes: no agency route mounts under them.
_GATEWAY_ROOTS = frozenset({"v1", "healthz", "readyz", "metrics", "openapi.json", "docs", "problems"})
#: Second segments of the gateway's own ``/v1`` routes: no client route mounts under them.
_GATEWAY_V1 = frozenset({"services", "requests", "agencies"})
#: The shape of a refusal reason that may become a metric label; anything else is counted as ``other``.
_REASON = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


@dataclasses.dataclass(frozen=True)
class MountedRoute:
    """An adapter's inbound route with the agency it mounts for."""

    agency: str
    route: InboundRoute

    @property
    def path(self) -> str:
        """The absolute path the route is served at."""
        return self.route.mount_path(self.agency)


def inbound_routes(adapters: Iterable[Adapter]) -> list[MountedRoute]:
    """Every adapter's inbound routes, each adapter asked once; :class:`ValueError` for a route that would mount
    under one of the gateway's own paths, or a method and path two routes claim."""
    mounted: list[MountedRoute] = []
    seen: set[tuple[str, str]] = set()
    for adapter in adapters:
        for route in adapter.inbound_routes():
            entry = MountedRoute(adapter.agency, route)
            reserved = _GATEWAY_ROOTS if route.auth == "agency" else _GATEWAY_V1
            if adapter.agency in reserved:
                raise ValueError(f"the {adapter.agency} adapter's route {entry.path} would shadow the gateway's own")
            if (route.method, entry.path) in seen:
                raise ValueError(f"two inbound routes claim {route.method} {entry.path}")
            seen.add((route.method, entry.path))
            mounted.append(entry)
    return mounted


def mount_inbound(app: web.Application, routes: Sequence[MountedRoute], *, max_body: int) -> None:
    """Add ``routes`` to ``app``; a body over a route's own ``max_body``, else ``max_body``, is not read."""
    for mounted in routes:
        app.router.add_route(mounted.route.method, mounted.path, _handler(mounted, max_body))


def _handler(mounted: MountedRoute, default_max_body: int) -> Handler:
    route = mounted.route
    limit = route.max_body or default_max_body

    async def handle(request: web.Request) -> web.StreamResponse:
        client_id = None
        if route.auth == "client":
            client = client_of(request)
            if route.grant is not None and not client.may_use(route.grant):
                raise ApiProblem("forbidden", f"this client is not granted {route.grant}")
            client_id = client.id
        body = await _read_capped(request, limit)
        if body is None:
            log.warning("inbound.body_too_large", agency=mounted.agency, route=mounted.path, limit=limit)
            if route.too_large is not None:
                return _send(route.too_large)
            raise ApiProblem("payload-too-large", f"the body is larger than this route accepts ({limit} bytes)")
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            headers.setdefault(name.lower(), value)
        answer = await route.handler(
            InboundRequest(
                method=request.method,
                path=request.path,
                headers=headers,
                body=body,
                path_params=dict(request.match_info),
                query={name: request.query[name] for name in request.query},
                client_id=client_id,
                peer=_peer(request),
            )
        )
        if answer.refusal is not None:
            reason = answer.refusal if _REASON.match(answer.refusal) else "other"
            telemetry = request.app.get(TELEMETRY)
            if telemetry is not None:
                telemetry.metrics.inbound_refusals.labels(mounted.agency, mounted.path, reason).inc()
        return _send(answer, request)

    return public(handle) if route.auth == "agency" else handle


def _peer(request: web.Request) -> str | None:
    """The IP address at the other end of the connection, from the socket itself (never from a header)."""
    transport = request.transport
    peername = transport.get_extra_info("peername") if transport is not None else None
    if isinstance(peername, tuple) and peername and isinstance(peername[0], str):
        return peername[0]
    return None


async def _read_capped(request: web.Request, limit: int) -> bytes | None:
    """The body, or ``None`` past ``limit`` (read here: the app's ``client_max_size`` is the API's limit)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = bytearray()
    async for chunk in request.content.iter_any():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _send(answer: InboundResponse, request: web.Request | None = None) -> web.Response:
    """The handler's answer as it is, but a problem of a known type raised for the gateway to render."""
    if request is not None and answer.content_type == _PROBLEM:
        _raise_known_problem(answer, request)
    headers = {name: value for name, value in answer.headers.items() if name.lower() != "content-type"}
    headers["Content-Type"] = answer.content_type
    return web.Response(status=answer.status, body=answer.body, headers=headers)


def _raise_known_problem(answer: InboundResponse, request: web.Request) -> None:
    try:
        problem = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        return
    if not isinstance(problem, dict) or not isinstance(problem.get("type"), str):
        return
    slug = problem["type"].removeprefix("/problems/")
    if request.app.get(PROBLEMS, DEFAULT_PROBLEMS).get(slug) is None:
        return  # the adapter's own kind of problem: sent as it wrote it
    errors = problem.get("errors")
    fields = [
        FieldError(field=str(e.get("field", "")), message=str(e.get("message", "")))
        for e in (errors if isinstance(errors, list) else ())
        if isinstance(e, dict)
    ]
    raise ApiProblem(slug, str(problem.get("detail") or ""), errors=fields or None)
