"""The HTTP edge: routes and handlers, middleware, the OpenAPI document and the docs pages."""

from __future__ import annotations

from ._docs import render_docs, render_problem
from ._edge import DIRECTORY, HTTP_STATUS_SLUGS, JWT, LIMITER, PROBLEMS, TELEMETRY, error_middleware
from ._handlers import STATE, GatewayState, routes
from ._limits import MAX_JSON_DEPTH, json_depth_exceeded, nul_field, server_options
from ._openapi import build_openapi
from ._oss_inbound import JAKARTA, RECEIVE_PATH, mount_oss_inbound, oss_token, token_valid

__all__ = [
    "DIRECTORY",
    "HTTP_STATUS_SLUGS",
    "JAKARTA",
    "JWT",
    "LIMITER",
    "MAX_JSON_DEPTH",
    "PROBLEMS",
    "RECEIVE_PATH",
    "STATE",
    "TELEMETRY",
    "GatewayState",
    "build_openapi",
    "error_middleware",
    "json_depth_exceeded",
    "mount_oss_inbound",
    "nul_field",
    "oss_token",
    "render_docs",
    "render_problem",
    "routes",
    "server_options",
    "token_valid",
]
