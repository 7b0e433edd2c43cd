"""The HTTP edge: request context, authentication, and the one place errors become problem responses."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from ._auth import Client, ClientDirectory
from ._ids import TraceContext, parse_traceparent
from ._problems import DEFAULT_PROBLEMS, ApiProblem, ProblemCatalog, problem_response

__all__ = ["CLIENT", "TRACE", "client_of", "error_middleware", "require_client"]

log = structlog.get_logger("gateway.http")

TRACE: web.RequestKey[TraceContext] = web.RequestKey("trace", TraceContext)
CLIENT: web.RequestKey[Client] = web.RequestKey("client", Client)
DIRECTORY: web.AppKey[ClientDirectory] = web.AppKey("directory", ClientDirectory)
PROBLEMS: web.AppKey[ProblemCatalog] = web.AppKey("problems", ProblemCatalog)

_PUBLIC = re.compile(r"^/(healthz|readyz|openapi\.json|docs|problems/[a-z-]+)$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_HTTP_SLUGS = {
    400: "malformed-json",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    413: "payload-too-large",
    415: "unsupported-media-type",
}


def client_of(request: web.Request) -> Client:
    """The authenticated client of this call."""
    return request[CLIENT]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind the call's context, authenticate, time it, and turn every error into a problem response."""
    trace = parse_traceparent(request.headers.get("traceparent"))
    request[TRACE] = trace
    incoming = request.headers.get("X-Request-Id", "")
    call_id = incoming if _REQUEST_ID.match(incoming) else trace.span_id
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(trace_id=trace.trace_id, span_id=trace.span_id, call_id=call_id)
    started = time.perf_counter()
    problems = request.app.get(PROBLEMS, DEFAULT_PROBLEMS)
    try:
        if not _PUBLIC.match(request.path):
            require_client(request)
        response = await handler(request)
    except ApiProblem as exc:
        response = problem_response(
            problems.build(
                exc.slug, exc.detail, instance=request.path, trace_id=trace.trace_id, errors=exc.errors, code=exc.code
            ),
            headers=exc.headers,
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        slug = _HTTP_SLUGS.get(exc.status, "internal-error")
        kind = problems.get(slug)
        detail = kind.description if kind else None
        headers = {"Allow": exc.headers.get("Allow", "")} if exc.status == 405 else {}
        response = problem_response(
            problems.build(slug, detail, instance=request.path, trace_id=trace.trace_id, status=exc.status),
            headers=headers,
        )
    except Exception:
        log.exception("http.unhandled", method=request.method, path=request.path)
        response = problem_response(
            problems.build("internal-error", "unexpected error", instance=request.path, trace_id=trace.trace_id)
        )
    if not response.prepared:  # a streamed response has sent its headers already
        response.headers["X-Request-Id"] = call_id
        response.headers["traceresponse"] = trace.traceparent
    client = request.get(CLIENT)
    log.info(
        "http.request",
        method=request.method,
        path=request.path,
        status=response.status,
        client=client.id if client else None,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return response


def require_client(request: web.Request) -> Client:
    """Authenticate the caller by bearer API key, or answer 401."""
    known: Client | None = request.get(CLIENT)
    if known is not None:
        return known
    client = request.app[DIRECTORY].authenticate(request.headers.get("Authorization"))
    if client is None:
        raise ApiProblem(
            "unauthorized",
            "present a valid API key as 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": 'Bearer realm="mpp-gateway"'},
        )
    request[CLIENT] = client
    structlog.contextvars.bind_contextvars(client=client.id)
    return client
