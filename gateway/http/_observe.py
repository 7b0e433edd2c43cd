"""Tracing and logging of every call: the server span, the log context, the HTTP metrics and the access log line."""

from __future__ import annotations

import re
import time

import structlog
from aiohttp import web
from opentelemetry.trace import SpanKind, Status, StatusCode

from ..telemetry import TraceContext, ids
from ._edge import CLIENT, TELEMETRY, TRACE, Handler

__all__ = ["observe_middleware"]

log = structlog.get_logger("gateway.http")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@web.middleware
async def observe_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Open the call's server span, bind its log context, and count, time and log the answer."""
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
        response = await handler(request)
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
