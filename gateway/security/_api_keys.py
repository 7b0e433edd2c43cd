"""Client apps and their API keys: keys are shown once and stored only as SHA-256 hashes.

An API key is 32 random bytes, so a fast hash is as safe as a slow one here (nothing to brute-force) and keeps
authentication off the profile. Two keys per client may be valid at once, for rotation.

A client may instead present a JWT from the region's identity provider (see ``_jwt``); either way the client
is an entry of this directory, and its grants, MPP and rate limit come from here, never from the token.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ._callbacks import client_callback_origins
from ._origins import client_origins

__all__ = ["ROLES", "Client", "ClientDirectory", "bearer_token", "generate_key", "hash_key"]

KEY_PREFIX = "mppk_"

#: Roles a client may hold besides making requests.
ROLES = frozenset({"ops"})


def generate_key() -> str:
    """A new API key, shown to its owner once."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(key.encode()).hexdigest()


def bearer_token(authorization: str | None) -> str | None:
    """The token of ``Authorization: Bearer <token>``, or ``None`` for anything else."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


@dataclasses.dataclass(frozen=True)
class Client:
    """A counter app (or kiosk, or portal) allowed to call the gateway."""

    id: str
    name: str
    key_hashes: frozenset[str]
    #: The MPP the client belongs to; ``None`` for a regional client that may act for any MPP.
    mpp_id: str | None = None
    #: Service ids or glob patterns (``dukcapil.*``) the client is granted.
    services: tuple[str, ...] = ("*",)
    #: Key of the HMAC signature on webhooks to this client; no secret, no webhooks.
    webhook_secret: str | None = dataclasses.field(default=None, repr=False)
    #: Calls per second allowed on average (a token bucket per client); ``None`` takes the gateway's default,
    #: ``0`` is unlimited.
    rate_per_second: float | None = None
    #: Calls allowed at once; ``None`` takes the gateway's default.
    rate_burst: int | None = None
    #: Origins (``https://counter.example``) of the web pages that may call the gateway with this client's key
    #: from a browser (CORS); exact, as :func:`~._origins.web_origin` writes them. Empty: no page may.
    cors_origins: tuple[str, ...] = ()
    #: Origins (``https://hooks.counter.example``) its ``callback_url`` may point into, as
    #: :func:`~._callbacks.callback_origin` writes them; empty: no callbacks (``gateway/security/_callbacks.py``).
    callback_origins: tuple[str, ...] = ()
    #: What else the client may do besides its own requests: ``"ops"`` reads every request, masked, and the
    #: operations routes (overview, traces, reports, the console); see :data:`ROLES`.
    roles: frozenset[str] = frozenset()

    @property
    def is_ops(self) -> bool:
        """True for an operations client (the console, the ops team's tools)."""
        return "ops" in self.roles

    def may_use(self, service: str) -> bool:
        """True when the client is granted ``service``."""
        return any(fnmatch.fnmatchcase(service, pattern) for pattern in self.services)

    def may_act_for(self, mpp_id: str) -> bool:
        """True when the client may make requests for ``mpp_id``."""
        return self.mpp_id is None or self.mpp_id == mpp_id

    def may_read(self, client_id: str, mpp_id: str) -> bool:
        """True when a request made by ``client_id`` for ``mpp_id`` is visible to this client."""
        return client_id == self.id or (self.mpp_id is not None and self.mpp_id == mpp_id)


class ClientDirectory:
    """Resolves a presented bearer token to its client."""

    def __init__(self, clients: Iterable[Client]) -> None:
        self.clients = {c.id: c for c in clients}
        self._by_hash: dict[str, Client] = {}
        for client in self.clients.values():
            for digest in client.key_hashes:
                self._by_hash[digest] = client

    def authenticate(self, authorization: str | None) -> Client | None:
        """The client presenting ``Authorization: Bearer <key>``, or ``None``."""
        token = bearer_token(authorization)
        if token is None:
            return None
        digest = hash_key(token)
        client = self._by_hash.get(digest)
        # The dictionary lookup already decided; compare_digest keeps the final check constant-time.
        if client is not None and any(hmac.compare_digest(digest, h) for h in client.key_hashes):
            return client
        return None

    @classmethod
    def from_file(cls, path: str | Path) -> ClientDirectory:
        """Load ``{"clients": [{"id", "name", "mpp_id", "services", "key_sha256": [...], "webhook_secret",
        "rate_per_second", "rate_burst", "cors_origins": [...], "callback_origins": [...], "roles": ["ops"]}]}``."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls.from_data(data)

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> ClientDirectory:
        """Build from the parsed clients file."""
        clients = []
        for entry in data.get("clients", []):
            hashes = entry.get("key_sha256", [])
            if isinstance(hashes, str):
                hashes = [hashes]
            clients.append(
                Client(
                    id=str(entry["id"]),
                    name=str(entry.get("name", entry["id"])),
                    key_hashes=frozenset(str(h).lower() for h in hashes),
                    mpp_id=entry.get("mpp_id"),
                    services=tuple(entry.get("services", ["*"])),
                    webhook_secret=entry.get("webhook_secret"),
                    rate_per_second=_limit(entry, "rate_per_second", float),
                    rate_burst=_limit(entry, "rate_burst", int),
                    cors_origins=client_origins(entry),
                    callback_origins=client_callback_origins(entry),
                    roles=_roles(entry),
                )
            )
        return cls(clients)


def _roles(entry: Mapping[str, Any]) -> frozenset[str]:
    """A client's ``roles``: a list of the names in :data:`ROLES` (none when absent)."""
    value = entry.get("roles", [])
    if not isinstance(value, list) or not all(isinstance(role, str) for role in value):
        raise ValueError(f"client {entry.get('id')!r}: roles must be a list of names")
    unknown = sorted(set(value) - ROLES)
    if unknown:
        raise ValueError(f"client {entry.get('id')!r}: unknown role {unknown[0]!r} (known: {', '.join(sorted(ROLES))})")
    return frozenset(value)


def _limit(entry: Mapping[str, Any], name: str, kind: type[float] | type[int]) -> Any:
    """A client's optional rate setting: a non-negative number (``rate_burst`` whole), or ``None`` when absent."""
    value = entry.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or (kind is int and value % 1):
        what = "a whole number" if kind is int else "a number"
        raise ValueError(f"client {entry.get('id')!r}: {name} must be {what} >= 0")
    return kind(value)
