"""Identifiers: request ids (time-ordered, URL-safe) and W3C trace context."""

from __future__ import annotations

import os
import time

__all__ = ["TraceContext", "new_request_id"]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
REQUEST_ID_PATTERN = r"^req_[0-9A-HJKMNP-TV-Z]{26}$"


def new_request_id() -> str:
    """``req_`` and a ULID: 48 bits of milliseconds then 80 random bits, so ids sort by creation time."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "req_" + "".join(reversed(chars))


class TraceContext:
    """The W3C trace context of one API call's server span."""

    __slots__ = ("sampled", "span_id", "trace_id")

    def __init__(self, trace_id: str, span_id: str, sampled: bool) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.sampled = sampled

    @property
    def traceparent(self) -> str:
        """The ``traceparent`` header value naming this context's span as parent."""
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"
