"""Web origins a client's pages are served from, as the clients file lists them (``cors_origins``).

An origin is exact: ``scheme://host[:port]``, written the way a browser sends it in its ``Origin`` header (lower
case, the scheme's default port left out), so the check at the edge is a set lookup. Wildcards, paths and
``null`` are refused: a page is allowed by naming where it is served from, nothing looser.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["client_origins", "web_origin"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def web_origin(text: str) -> str:
    """``text`` as a browser serializes the origin: ``https://counter.example``, ``http://localhost:5173``.

    :class:`ValueError` saying what is wrong for anything that is not one exact http(s) origin.
    """
    if "*" in text:
        raise ValueError("must be an exact origin, not a wildcard")
    parts = urllib.parse.urlsplit(text.strip())
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError("must be scheme://host[:port] with scheme http or https")
    if parts.path or parts.query or parts.fragment or "?" in text or "#" in text:
        raise ValueError("must be scheme://host[:port] with nothing after it (no path, not even '/')")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry user information")
    if not parts.hostname.isascii():
        raise ValueError("write the host in its ASCII (punycode) form, as browsers send it")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    scheme = parts.scheme.lower()
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != _DEFAULT_PORTS[scheme] else "")


def client_origins(entry: Mapping[str, Any]) -> tuple[str, ...]:
    """The ``cors_origins`` of a clients-file entry, each as :func:`web_origin` writes it; :class:`ValueError`
    naming the client and the entry."""
    return origin_list(entry, "cors_origins", web_origin)


def origin_list(entry: Mapping[str, Any], name: str, parse: Callable[[str], str]) -> tuple[str, ...]:
    """The list of origins ``name`` of a clients-file entry, each normalised by ``parse``, duplicates dropped;
    :class:`ValueError` naming the client and the entry."""
    raw = entry.get(name, [])
    if isinstance(raw, str) or not isinstance(raw, list):
        raise ValueError(f"client {entry.get('id')!r}: {name} must be a list of origins")
    origins: list[str] = []
    for index, value in enumerate(raw):
        if not isinstance(value, str):
            raise ValueError(f"client {entry.get('id')!r}: {name}[{index}] must be a string")
        try:
            origin = parse(value)
        except ValueError as exc:
            raise ValueError(f"client {entry.get('id')!r}: {name}[{index}] {exc}") from None
        if origin not in origins:
            origins.append(origin)
    return tuple(origins)
