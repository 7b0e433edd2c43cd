"""Who may call: API keys, bearer JWTs from the region's identity provider, per-client rate limits, and the
one masking step every output path goes through."""

from __future__ import annotations

from ._api_keys import Client, ClientDirectory, bearer_token, generate_key, hash_key
from ._client_rate import ClientRateLimiter, TokenBucket
from ._jwt import InvalidToken, JwtSettings, JwtVerifier, looks_like_jwt
from ._masking import redact, redact_mapping

__all__ = [
    "Client",
    "ClientDirectory",
    "ClientRateLimiter",
    "InvalidToken",
    "JwtSettings",
    "JwtVerifier",
    "TokenBucket",
    "bearer_token",
    "generate_key",
    "hash_key",
    "looks_like_jwt",
    "redact",
    "redact_mapping",
]
