"""The HTTP edge: routes and handlers, middleware, the OpenAPI document and the docs pages."""

from __future__ import annotations

from ._auth import auth_middleware
from ._docs import render_docs, render_problem
from ._edge import DIRECTORY, JWT, LIMITER, PROBLEMS, TELEMETRY, public
from ._handlers import STATE, GatewayState, routes
from ._inbound import MountedRoute, inbound_routes, mount_inbound
from ._limits import MAX_JSON_DEPTH, duplicate_key, json_depth_exceeded, nul_field, server_options
from ._middleware import edge_middlewares
from ._observe import observe_middleware
from ._openapi import build_openapi
from ._rendering import HTTP_STATUS_SLUGS, problem_middleware

__all__ = [
    "DIRECTORY",
    "HTTP_STATUS_SLUGS",
    "JWT",
    "LIMITER",
    "MAX_JSON_DEPTH",
    "PROBLEMS",
    "STATE",
    "TELEMETRY",
    "GatewayState",
    "MountedRoute",
    "auth_middleware",
    "build_openapi",
    "duplicate_key",
    "edge_middlewares",
    "inbound_routes",
    "json_depth_exceeded",
    "mount_inbound",
    "nul_field",
    "observe_middleware",
    "problem_middleware",
    "public",
    "render_docs",
    "render_problem",
    "routes",
    "server_options",
]
