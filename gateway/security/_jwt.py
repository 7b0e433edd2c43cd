"""Bearer JWTs from the region's identity provider, as an alternative to API keys.

The token proves which client calls, nothing more: its client id claim (``client_id``, else ``azp``, else ``sub``)
must name an entry of the client directory, and that entry's grants, MPP and rate limit apply, as X-Road keeps
access rights in the gateway's own configuration. What a token must carry:

- a signature by a key of the provider's JSON Web Key Set (``kid`` in the header names it), with one of the
  allowed asymmetric algorithms (``RS256``, ``ES256``, ``EdDSA`` by default; ``none`` and ``HS*`` never), the
  algorithm being the one the key is for;
- ``iss`` equal to the configured issuer and ``aud`` containing the configured audience;
- ``exp``, and ``nbf``/``iat`` if present, within the configured leeway of this host's clock.

The key set comes from a file (read once, at start) and/or a URL. Fetched keys are kept; an unknown ``kid``
fetches the set again, at most once per refresh interval, so a provider rotating its keys is followed at once and
a stream of forged ``kid`` values cannot hammer it. Keys older than the maximum age are fetched again on the next
token, so a key the provider withdrew stops working. Fetching goes through the gateway's outbound transport with a
short timeout and never blocks the event loop; a failed fetch keeps the keys already known.

Checking a signature costs 100-150 us, and a counter app sends the same token for minutes, so a token that passed
is remembered for a minute at most (never past its ``exp``); a new key set forgets every remembered token.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import time
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import structlog
from opentelemetry import trace

from adapters import AgencyHttp, AgencyRequest, MppError

from ..config import Settings
from ._api_keys import Client

__all__ = ["ASYMMETRIC_ALGORITHMS", "CLIENT_ID_CLAIMS", "InvalidToken", "JwtSettings", "JwtVerifier", "looks_like_jwt"]

log = structlog.get_logger("gateway.jwt")

#: Algorithms that may be allowed: public-key signatures only, so nothing the gateway holds can mint a token.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
#: Claims naming the client, in the order they are tried.
CLIENT_ID_CLAIMS = ("client_id", "azp", "sub")
_JWKS_MAX_BYTES = 256 * 1024
_REMEMBER_SECONDS = 60.0
_REMEMBER_MAX = 4096
_LOOPBACK_NAMES = {"localhost"}


def looks_like_jwt(token: str) -> bool:
    """True for a compact JWS (three dot-separated parts); API keys have no dots."""
    return token.count(".") == 2


class InvalidToken(Exception):
    """A JWT that does not authenticate anyone; the message says why, safe to show, never quoting the token."""


@dataclasses.dataclass(frozen=True)
class JwtSettings:
    """How tokens of the region's identity provider are checked (``MPP_JWT_*``)."""

    issuer: str
    audience: str
    jwks_url: str | None = None
    jwks_file: str | None = None
    algorithms: frozenset[str] = frozenset({"RS256", "ES256", "EdDSA"})
    leeway_seconds: float = 30.0
    #: Least time between two fetches of the key set prompted by an unknown ``kid``.
    refresh_seconds: float = 60.0
    #: Fetched keys older than this are fetched again before the next token is checked.
    max_age_seconds: float = 3600.0
    timeout_seconds: float = 3.0

    def __post_init__(self) -> None:
        if not self.issuer or not self.audience:
            raise ValueError("MPP_JWT_ISSUER and MPP_JWT_AUDIENCE are both required for JWT authentication")
        if not self.jwks_url and not self.jwks_file:
            raise ValueError("JWT authentication needs MPP_JWT_JWKS_URL or MPP_JWT_JWKS_FILE")
        refused = self.algorithms - ASYMMETRIC_ALGORITHMS
        if refused or not self.algorithms:
            raise ValueError(
                f"MPP_JWT_ALGORITHMS may name only asymmetric algorithms ({', '.join(sorted(ASYMMETRIC_ALGORITHMS))})"
            )
        if self.jwks_url and not _safe_url(self.jwks_url):
            raise ValueError("MPP_JWT_JWKS_URL must be an https URL (plain http only on a loopback address)")

    @classmethod
    def from_settings(cls, settings: Settings) -> JwtSettings | None:
        """The JWT settings, or ``None`` when none of ``MPP_JWT_*`` is set (API keys only)."""
        if not (settings.jwt_issuer or settings.jwt_audience or settings.jwt_jwks_url or settings.jwt_jwks_file):
            return None
        return cls(
            issuer=settings.jwt_issuer or "",
            audience=settings.jwt_audience or "",
            jwks_url=settings.jwt_jwks_url or None,
            jwks_file=settings.jwt_jwks_file or None,
            algorithms=frozenset(a.strip() for a in settings.jwt_algorithms.split(",") if a.strip()),
            leeway_seconds=settings.jwt_leeway_seconds,
            refresh_seconds=settings.jwt_jwks_refresh_seconds,
            max_age_seconds=settings.jwt_jwks_max_age_seconds,
            timeout_seconds=settings.jwt_jwks_timeout_seconds,
        )


def _safe_url(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


class JwtVerifier:
    """Checks bearer JWTs and names the client each one authenticates."""

    def __init__(
        self,
        config: JwtSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        tracer: trace.Tracer | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if config.jwks_url and transport is None:
            raise ValueError("fetching the JWKS needs an outbound transport")
        self.config = config
        self._clock = clock
        self._wall_clock = wall_clock
        #: Tokens that passed: token -> (client id, ``clock()`` until which it is taken without a new check).
        self._passed: dict[str, tuple[str, float]] = {}
        self._file_keys = _parse_jwks(_read_file(config.jwks_file), config.algorithms) if config.jwks_file else {}
        self._keys: dict[str, jwt.PyJWK] = dict(self._file_keys)
        self._http = (
            AgencyHttp(
                transport,
                agency="identity-provider",
                base_url=config.jwks_url,
                timeout=config.timeout_seconds,
                max_body=_JWKS_MAX_BYTES,
                tracer=tracer,
            )
            if config.jwks_url and transport is not None
            else None
        )
        self._fetched_at = -float("inf")
        self._attempted_at = -float("inf")
        self._lock = asyncio.Lock()
        #: How many times the key set was fetched (successfully or not): a figure for operations and tests.
        self.fetches = 0

    async def client_for(self, token: str, clients: Mapping[str, Client]) -> Client:
        """The client ``token`` authenticates, or :class:`InvalidToken` saying why not."""
        passed = self._passed.get(token)
        if passed is not None:
            client = clients.get(passed[0])
            if client is not None and self._clock() < passed[1]:
                return client
            del self._passed[token]
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("the token is not a well-formed JWT") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.config.algorithms:
            raise InvalidToken("the token's signing algorithm is not accepted")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("the token is not a well-formed JWT")
        key = await self._key(kid)
        if key is None:
            raise InvalidToken("the token's signing key is unknown")
        if key.algorithm_name != alg:
            raise InvalidToken("the token's signing algorithm does not match its key")
        claims = self._decode(token, key)
        for name in CLIENT_ID_CLAIMS:
            client_id = claims.get(name)
            if isinstance(client_id, str) and client_id:
                break
        else:
            raise InvalidToken("the token names no client (client_id, azp or sub)")
        client = clients.get(client_id)
        if client is None:
            raise InvalidToken("the token's client is not registered at this gateway")
        self._remember(token, client.id, claims["exp"])
        return client

    def _remember(self, token: str, client_id: str, exp: Any) -> None:
        try:
            # PyJWT accepted it as a time, which it reads with int(): a number, or digits in a string.
            lifetime = min(_REMEMBER_SECONDS, float(exp) + self.config.leeway_seconds - self._wall_clock())
        except (TypeError, ValueError, OverflowError):
            return
        if not lifetime > 0:
            return
        if len(self._passed) >= _REMEMBER_MAX:
            self._passed.clear()  # a flood of distinct tokens only costs the checks they would cost anyway
        self._passed[token] = (client_id, self._clock() + lifetime)

    def _decode(self, token: str, key: jwt.PyJWK) -> dict[str, Any]:
        config = self.config
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[key.algorithm_name],
                audience=config.audience,
                issuer=config.issuer,
                leeway=config.leeway_seconds,
                options={"require": ["exp", "iss", "aud"], "enforce_minimum_key_length": True},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("the token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("the token is from another issuer") from None
        except jwt.MissingRequiredClaimError:
            raise InvalidToken("the token lacks a required claim (exp, iss, aud)") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("the token's signature does not verify") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            # PyJWT's own messages may quote claims; the caller gets a fixed reason.
            raise InvalidToken("the token is not valid") from None
        return claims

    async def _key(self, kid: str | None) -> jwt.PyJWK | None:
        if self._http is not None and self._fetch_due(kid):
            async with self._lock:
                # Whoever held the lock may have fetched already: one fetch serves every waiting token.
                if self._fetch_due(kid):
                    await self._fetch()
        return self._lookup(kid)

    def _fetch_due(self, kid: str | None) -> bool:
        now = self._clock()
        if now - self._attempted_at < self.config.refresh_seconds:
            return False
        return now - self._fetched_at >= self.config.max_age_seconds or self._lookup(kid) is None

    def _lookup(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is not None:
            return self._keys.get(kid)
        # A provider with a single key may leave ``kid`` out.
        if len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return None

    async def _fetch(self) -> None:
        http = self._http
        assert http is not None  # only called with a URL
        self.fetches += 1
        request = AgencyRequest("GET", http.base_url, {"Accept": "application/json"}, None, self.config.timeout_seconds)
        try:
            response = await http.send(request)
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code}")
            keys = _parse_jwks(response.content, self.config.algorithms)
        except (MppError, ValueError) as exc:
            # The keys known so far stay in use; the next unknown kid tries again after the refresh interval.
            self._attempted_at = self._clock()
            log.warning("jwt.jwks_fetch_failed", host=urllib.parse.urlsplit(http.base_url).hostname, reason=str(exc))
            return
        now = self._clock()
        self._attempted_at = self._fetched_at = now
        # Keys the provider withdrew go; the offline set stays whatever the provider publishes.
        self._keys = {**keys, **self._file_keys}
        self._passed.clear()
        log.info("jwt.jwks_fetched", keys=len(keys))


def _read_file(path: str) -> bytes:
    # Read once, by the composition root at start, like the clients file.
    return Path(path).read_bytes()


def _parse_jwks(body: bytes, algorithms: frozenset[str]) -> dict[str, jwt.PyJWK]:
    """Signing keys by ``kid``, for the allowed algorithms only; raises :class:`ValueError` for a bad set."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ValueError("the JWKS is not JSON") from None
    entries = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ValueError("the JWKS has no 'keys' list")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig" or "d" in entry:
            continue  # encryption keys, and private keys published by mistake, are never used to verify
        try:
            key = jwt.PyJWK(entry)
        except jwt.PyJWTError:
            continue  # a key type this gateway does not use
        if key.algorithm_name not in algorithms:
            continue
        kid = entry.get("kid")
        keys[kid if isinstance(kid, str) else ""] = key
    if not keys:
        raise ValueError("the JWKS holds no usable signing key")
    return keys
