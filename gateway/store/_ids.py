"""Request and document ids: time-ordered and URL-safe."""

from __future__ import annotations

import os
import time

__all__ = ["REQUEST_ID_PATTERN", "new_document_id", "new_request_id"]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
REQUEST_ID_PATTERN = r"^req_[0-9A-HJKMNP-TV-Z]{26}$"


def _ulid() -> str:
    """A ULID: 48 bits of milliseconds then 80 random bits, so ids sort by creation time."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_request_id() -> str:
    """``req_`` and a ULID."""
    return "req_" + _ulid()


def new_document_id() -> str:
    """``doc_`` and a ULID: the id an agency document's row is sealed to."""
    return "doc_" + _ulid()
