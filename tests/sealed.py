"""Test helpers for sealed values at rest."""

from __future__ import annotations

import base64


def flip_ciphertext(stored: str) -> str:
    """A stored sealed value with one bit of its ciphertext flipped, still well-formed base64url."""
    prefix, _, body = stored.strip('"').rpartition(":")
    blob = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    blob[len(blob) // 2] ^= 0x01
    return f'"{prefix}:{base64.urlsafe_b64encode(bytes(blob)).rstrip(b"=").decode()}"'
