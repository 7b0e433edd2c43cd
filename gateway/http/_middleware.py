"""The edge's middleware stack, in the order a call passes it."""

from __future__ import annotations

from aiohttp.typedefs import Middleware

from ._auth import auth_middleware
from ._cors import cors_middleware
from ._observe import observe_middleware
from ._rendering import problem_middleware

__all__ = ["edge_middlewares"]


def edge_middlewares() -> list[Middleware]:
    """Observe (span, log context, metrics), render problems, answer CORS preflights, then authenticate: outermost
    first."""
    return [observe_middleware, problem_middleware, cors_middleware, auth_middleware]
