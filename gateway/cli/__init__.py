"""``mpp-gateway``: the command line."""

from __future__ import annotations

from ._main import main, serve_app, with_demo_keys
from ._runtime import settle_heap

__all__ = [
    "main",
    "serve_app",
    "settle_heap",
    "with_demo_keys",
]
