"""The one place an error becomes a problem response (RFC 9457): API problems, HTTP errors, unreadable sealed data
and defects, each without a traceback in the body."""

from __future__ import annotations

import structlog
from aiohttp import web

from ..problems import DEFAULT_PROBLEMS, ApiProblem, problem_response
from ..store import SealedDataError, StoreUnavailable
from ._edge import PROBLEMS, TRACE, Handler

__all__ = ["HTTP_STATUS_SLUGS", "problem_middleware"]

log = structlog.get_logger("gateway.http")

HTTP_STATUS_SLUGS = {
    400: "malformed-json",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    413: "payload-too-large",
    415: "unsupported-media-type",
}


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every error raised below as a problem naming the call's path and trace."""
    problems = request.app.get(PROBLEMS, DEFAULT_PROBLEMS)
    trace = request.get(TRACE)
    trace_id = trace.trace_id if trace is not None else None
    try:
        return await handler(request)
    except ApiProblem as exc:
        return problem_response(
            problems.build(exc.slug, exc.detail, instance=request.path, trace_id=trace_id, errors=exc.errors,
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
            problems.build(slug, kind.description if kind else None, instance=request.path, trace_id=trace_id,
                           status=exc.status),
            headers=headers,
        )  # fmt: skip
    except SealedDataError as exc:
        # Tampering or a lost data key, not a defect: one loud line naming row and column, no traceback.
        log.error("store.sealed_data_unreadable", column=exc.column, row=exc.row, reason=str(exc))
        return problem_response(
            problems.build("stored-data-unreadable", "the stored request could not be opened", instance=request.path,
                           trace_id=trace_id)
        )  # fmt: skip
    except StoreUnavailable as exc:
        # A full disk or a read-only database on any write of the call (a read's audit entry, say): retry later.
        log.warning("store.unavailable", method=request.method, route=request.path)
        return problem_response(
            problems.build("store-unavailable", "the gateway cannot store right now", instance=request.path,
                           trace_id=trace_id),
            headers={"Retry-After": str(exc.retry_after)},
        )  # fmt: skip
    except Exception:
        log.exception("http.unhandled", method=request.method)
        return problem_response(
            problems.build("internal-error", "unexpected error", instance=request.path, trace_id=trace_id)
        )
