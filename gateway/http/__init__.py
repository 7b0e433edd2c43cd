"""The HTTP edge: routes and handlers, middleware, the OpenAPI document and the docs pages."""

from __future__ import annotations

from ._auth import auth_middleware
from ._connections import (
    CONNECTIONS,
    AcceptErrorLog,
    ConnectionGuard,
    ConnectionPolicy,
    GuardedServer,
    claim_event_stream,
    connection_limits,
)
from ._console import CONSOLE_CSP, console_routes
from ._cors import CORS, CorsPolicy, cors_middleware, enable_cors
from ._docs import render_docs, render_problem
from ._edge import DIRECTORY, JWT, LIMITER, PROBLEMS, TELEMETRY, is_ops_only, ops_only, public
from ._handlers import STATE, GatewayState, masked_record, routes
from ._inbound import MountedRoute, inbound_routes, mount_inbound
from ._journey_runs import journey_runs_routes
from ._journeys import JOURNEYS, JourneyService, journey_routes
from ._limits import MAX_JSON_DEPTH, duplicate_key, json_depth_exceeded, nul_field, server_options
from ._middleware import edge_middlewares
from ._observe import observe_middleware
from ._openapi import build_openapi
from ._ops import ops_routes
from ._rendering import HTTP_STATUS_SLUGS, problem_middleware
from ._reports import report_csv, reports_routes
from ._search import SEARCH_PARAMETERS, parse_statuses, parse_when, search_routes
from ._stream_auth import STREAM_TOKENS, accepts_stream_token, stream_token_routes

__all__ = [
    "CONNECTIONS",
    "CONSOLE_CSP",
    "CORS",
    "DIRECTORY",
    "HTTP_STATUS_SLUGS",
    "JOURNEYS",
    "JWT",
    "LIMITER",
    "MAX_JSON_DEPTH",
    "PROBLEMS",
    "SEARCH_PARAMETERS",
    "STATE",
    "STREAM_TOKENS",
    "TELEMETRY",
    "AcceptErrorLog",
    "ConnectionGuard",
    "ConnectionPolicy",
    "CorsPolicy",
    "GatewayState",
    "GuardedServer",
    "JourneyService",
    "MountedRoute",
    "accepts_stream_token",
    "auth_middleware",
    "build_openapi",
    "claim_event_stream",
    "connection_limits",
    "console_routes",
    "cors_middleware",
    "duplicate_key",
    "edge_middlewares",
    "enable_cors",
    "inbound_routes",
    "is_ops_only",
    "journey_routes",
    "journey_runs_routes",
    "json_depth_exceeded",
    "masked_record",
    "mount_inbound",
    "nul_field",
    "observe_middleware",
    "ops_only",
    "ops_routes",
    "parse_statuses",
    "parse_when",
    "problem_middleware",
    "public",
    "render_docs",
    "render_problem",
    "report_csv",
    "reports_routes",
    "routes",
    "search_routes",
    "server_options",
    "stream_token_routes",
]
