"""Stream tokens: what a browser presents to open a request's event stream, since ``EventSource`` sends no headers.

A token is issued to an authenticated client for one request it may read, lives ``MPP_STREAM_TOKEN_SECONDS``
(60 s), and is taken once, as ``?token=`` on ``GET /v1/requests/{id}/events`` only; the API key never goes into a
URL. It is stateless, ``mppst_<payload>.<signature>``: the payload names the client, the request, the expiry and a
random nonce, and the signature is an HMAC-SHA256 under a key derived from ``MPP_STREAM_TOKEN_KEY``. Every replica
configured with the same key verifies every replica's tokens.

Single use is enforced per process: each process remembers the nonces it accepted until they expire. A token
replayed within its minute to another replica (or worker) is accepted there once more; it still opens only the
stream of the same request for the same client, which that client may read anyway.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import structlog

from ..config import Settings

__all__ = ["InvalidStreamToken", "StreamToken", "StreamTokens"]

log = structlog.get_logger("gateway.security")

_PREFIX = "mppst_"
_DOMAIN = b"mpp-gateway stream token v1"
_MIN_KEY_BYTES = 32
#: Longer than any token this module issues for the longest ids; anything longer is refused unread.
_MAX_TOKEN_CHARS = 1024


class InvalidStreamToken(Exception):
    """A stream token that opens nothing; the message says why, safe to show, never quoting the token."""


@dataclasses.dataclass(frozen=True)
class StreamToken:
    """A token as issued: its text (shown once, to the client it names) and when it stops working."""

    token: str = dataclasses.field(repr=False)
    expires_at: float
    #: Seconds from issue to expiry.
    expires_in: float


class StreamTokens:
    """Issues and redeems stream tokens; ``clock`` (seconds since the epoch) is injectable for tests."""

    def __init__(
        self,
        key: bytes | None = None,
        *,
        lifetime_seconds: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if key is not None and len(key) < _MIN_KEY_BYTES:
            raise ValueError(f"MPP_STREAM_TOKEN_KEY must be at least {_MIN_KEY_BYTES} bytes")
        if lifetime_seconds <= 0:
            raise ValueError("MPP_STREAM_TOKEN_SECONDS must be more than 0")
        #: Whether the key was configured (every replica shares it) or made up by this process.
        self.shared = key is not None
        self._mac_key = hmac.new(key or secrets.token_bytes(32), _DOMAIN, hashlib.sha256).digest()
        self._lifetime = lifetime_seconds
        self._clock = clock
        self._used: dict[str, float] = {}

    def __repr__(self) -> str:  # the key never shows
        return f"StreamTokens(shared={self.shared}, lifetime_seconds={self._lifetime:g})"

    @classmethod
    def from_settings(cls, settings: Settings) -> StreamTokens:
        """The tokens the settings describe: ``MPP_STREAM_TOKEN_KEY`` or ``MPP_STREAM_TOKEN_KEY_FILE``; unset, a key
        of this process's own (warned about when the store is shared by several replicas)."""
        value = settings.stream_token_key
        if value is None and settings.stream_token_key_file:
            value = Path(settings.stream_token_key_file).read_text(encoding="utf-8").strip()
        if value is None and settings.store_dsn:
            log.warning(
                "stream_tokens.unshared_key",
                detail="MPP_STREAM_TOKEN_KEY is not set: a stream token works only on the replica that issued it",
            )
        return cls(value.encode() if value is not None else None, lifetime_seconds=settings.stream_token_seconds)

    def issue(self, client_id: str, request_id: str) -> StreamToken:
        """A new token opening ``request_id``'s event stream for ``client_id``, once, within the lifetime."""
        now = self._clock()
        expires_at = int(now + self._lifetime)
        payload = _encode(orjson.dumps([client_id, request_id, expires_at, secrets.token_urlsafe(12)]))
        token = f"{_PREFIX}{payload}.{self._sign(payload)}"
        return StreamToken(token=token, expires_at=float(expires_at), expires_in=expires_at - now)

    def redeem(self, token: str, request_id: str) -> str:
        """The client ``token`` was issued to, when it is genuine, for ``request_id``, unexpired and not used
        before in this process; it is used from now on. :class:`InvalidStreamToken` otherwise."""
        client_id, bound_to, expires_at, nonce = self._read(token)
        if bound_to != request_id:
            raise InvalidStreamToken("the stream token was issued for another request")
        now = self._clock()
        if now >= expires_at:
            raise InvalidStreamToken("the stream token has expired; ask for a new one")
        self._forget_expired(now)
        if nonce in self._used:
            raise InvalidStreamToken("the stream token was used already; ask for a new one")
        self._used[nonce] = expires_at
        return client_id

    def _read(self, token: str) -> tuple[str, str, float, str]:
        invalid = InvalidStreamToken("the stream token is not valid")
        if len(token) > _MAX_TOKEN_CHARS or not token.startswith(_PREFIX):
            raise invalid
        payload, _, signature = token[len(_PREFIX) :].partition(".")
        if not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            raise invalid
        try:
            fields = orjson.loads(_decode(payload))
        except (binascii.Error, ValueError, orjson.JSONDecodeError):
            raise invalid from None
        match fields:
            case [str(client_id), str(request_id), int(expires_at), str(nonce)]:
                return client_id, request_id, float(expires_at), nonce
        raise invalid

    def _sign(self, payload: str) -> str:
        return _encode(hmac.new(self._mac_key, payload.encode(), hashlib.sha256).digest())

    def _forget_expired(self, now: float) -> None:
        expired = [nonce for nonce, until in self._used.items() if until <= now]
        for nonce in expired:
            del self._used[nonce]


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
