"""Who may call: API keys, bearer JWTs from the region's identity provider, per-client rate limits, the web origins
and stream tokens of browser clients, where callbacks may go, and the one masking step every output path goes
through."""

from __future__ import annotations

from ._api_keys import ROLES, Client, ClientDirectory, bearer_token, generate_key, hash_key
from ._callbacks import CallbackPolicy, CallbackRefused, Resolver, ascii_host, callback_origin, system_resolver
from ._client_rate import ClientRateLimiter, TokenBucket
from ._jwt import InvalidToken, JwtSettings, JwtVerifier, looks_like_jwt
from ._masking import IDENTIFIER_KEYS, PERSONAL_KEYS, redact, redact_mapping
from ._origins import web_origin
from ._stream_tokens import InvalidStreamToken, StreamToken, StreamTokens

__all__ = [
    "IDENTIFIER_KEYS",
    "PERSONAL_KEYS",
    "ROLES",
    "CallbackPolicy",
    "CallbackRefused",
    "Client",
    "ClientDirectory",
    "ClientRateLimiter",
    "InvalidStreamToken",
    "InvalidToken",
    "JwtSettings",
    "JwtVerifier",
    "Resolver",
    "StreamToken",
    "StreamTokens",
    "TokenBucket",
    "ascii_host",
    "bearer_token",
    "callback_origin",
    "generate_key",
    "hash_key",
    "looks_like_jwt",
    "redact",
    "redact_mapping",
    "system_resolver",
    "web_origin",
]
