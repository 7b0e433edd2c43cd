"""The W3C trace context of one API call."""

from __future__ import annotations

__all__ = ["TraceContext"]


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
