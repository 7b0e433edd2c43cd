"""The HTTP edge: request context, authentication, and the one place errors become problem responses."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from opentelemetry.trace import SpanKind, Status, StatusCode

from ..problems import DEFAULT_PROBLEMS, ApiProblem, ProblemCatalog, problem_response
from ..security import (
    Client,
    ClientDirectory,
    ClientRateLimiter,
    InvalidToken,
    JwtVerifier,
    bearer_token,
    looks_like_jwt,
)
from ..store import SealedDataError
from ..telemetry import Telemetry, TraceContext, ids

__all__ = [
    "CLIENT",
    "DIRECTORY",
    "HTTP_STATUS_SLUGS",
    "JWT",
    "LIMITER",
    "PROBLEMS",
    "TELEMETRY",
    "TRACE",
    "authenticate",
    "client_of",
    "error_middleware",
    "require_client",
]

log = structlog.get_logger("gateway.http")

TRACE: web.RequestKey[TraceContext] = web.RequestKey("trace", TraceContext)
CLIENT: web.RequestKey[Client] = web.RequestKey("client", Client)
DIRECTORY: web.AppKey[ClientDirectory] = web.AppKey("directory", ClientDirectory)
PROBLEMS: web.AppKey[ProblemCatalog] = web.AppKey("problems", ProblemCatalog)
TELEMETRY: web.AppKey[Telemetry] = web.AppKey("telemetry", Telemetry)
JWT: web.AppKey[JwtVerifier] = web.AppKey("jwt", JwtVerifier)
LIMITER: web.AppKey[ClientRateLimiter] = web.AppKey("limiter", ClientRateLimiter)

_CHALLENGE = 'Bearer realm="mpp-gateway"'
# RFC 6750: a bearer credential was presented and is not valid (as opposed to none presented).
_INVALID_CREDENTIAL = 'Bearer realm="mpp-gateway", error="invalid_token"'

_PUBLIC = re.compile(r"^/(healthz|readyz|metrics|openapi\.json|docs|problems/[a-z0-9-]+)$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

HTTP_STATUS_SLUGS = {
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
    """Open the call's server span, bind its log context, authenticate, and turn every error into a problem."""
    telemetry = request.app[TELEMETRY]
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    started = time.perf_counter()
    with telemetry.tracer.start_as_current_span(
        f"{request.method} {route}",
        context=telemetry.extract(request.headers),
        kind=SpanKind.SERVER,
        attributes={"http.request.method": request.method, "http.route": route},
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        trace_id, span_id = ids(span)
        trace = TraceContext(trace_id, span_id, span.get_span_context().trace_flags.sampled)
        request[TRACE] = trace
        incoming = request.headers.get("X-Request-Id", "")
        call_id = incoming if _REQUEST_ID.match(incoming) else span_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(trace_id=trace_id, span_id=span_id, call_id=call_id)
        response = await _answer(request, handler, trace)
        span.set_attribute("http.response.status_code", response.status)
        if response.status >= 500:
            span.set_status(Status(StatusCode.ERROR))
    if not response.prepared:  # a streamed response has sent its headers already
        response.headers["X-Request-Id"] = call_id
        response.headers["traceresponse"] = trace.traceparent
    elapsed = time.perf_counter() - started
    metrics = telemetry.metrics
    metrics.http_requests.labels(route, request.method, str(response.status)).inc()
    metrics.http_seconds.labels(route).observe(elapsed)
    client = request.get(CLIENT)
    log.info(
        "http.request",
        method=request.method,
        route=route,
        status=response.status,
        client=client.id if client else None,
        duration_ms=round(elapsed * 1000, 2),
    )
    return response


async def _answer(request: web.Request, handler: Handler, trace: TraceContext) -> web.StreamResponse:
    problems = request.app.get(PROBLEMS, DEFAULT_PROBLEMS)
    try:
        if not _PUBLIC.match(request.path):
            client = await authenticate(request)
            limiter = request.app.get(LIMITER)
            if limiter is not None and (wait := limiter.retry_after(client.id)):
                raise ApiProblem(
                    "rate-limited",
                    f"this client's request rate is exceeded; try again in {wait} s",
                    headers={"Retry-After": str(wait)},
                )
        return await handler(request)
    except ApiProblem as exc:
        return problem_response(
            problems.build(exc.slug, exc.detail, instance=request.path, trace_id=trace.trace_id, errors=exc.errors,
                           code=exc.code),
            headers=exc.headers,
        )  # fmt: skip
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        slug = HTTP_STATUS_SLUGS.get(exc.status, "internal-error")
        kind = problems.get(slug)
        headers = {"Allow": exc.headers.get("Allow", "")} if exc.status == 405 else {}
        return problem_response(
            problems.build(slug, kind.description if kind else None, instance=request.path, trace_id=trace.trace_id,
                           status=exc.status),
            headers=headers,
        )  # fmt: skip
    except SealedDataError as exc:
        # Tampering or a lost data key, not a defect: one loud line naming row and column, no traceback.
        log.error("store.sealed_data_unreadable", column=exc.column, row=exc.row, reason=str(exc))
        return problem_response(
            problems.build("stored-data-unreadable", "the stored request could not be opened", instance=request.path,
                           trace_id=trace.trace_id)
        )  # fmt: skip
    except Exception:
        log.exception("http.unhandled", method=request.method)
        return problem_response(
            problems.build("internal-error", "unexpected error", instance=request.path, trace_id=trace.trace_id)
        )


async def authenticate(request: web.Request) -> Client:
    """Authenticate the caller by API key or, when configured, by the identity provider's JWT; else answer 401."""
    known: Client | None = request.get(CLIENT)
    if known is not None:
        return known
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
