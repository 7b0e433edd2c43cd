"""The audit log's keys: the HMAC key that turns a NIK into a subject, and the Ed25519 keys that sign checkpoints."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import secrets

import orjson
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..store import canonical_time

__all__ = [
    "checkpoint_message",
    "key_id",
    "load_private_key",
    "load_public_key",
    "new_keys",
    "public_b64",
    "subject_hash",
]


def subject_hash(key: bytes, nik: str) -> str:
    """The audit subject of a NIK: HMAC-SHA256 under the audit key, hex."""
    return hmac.new(key, nik.encode(), hashlib.sha256).hexdigest()


def checkpoint_message(seq: int, chain_hash: str, at: dt.datetime, signer: str) -> bytes:
    """The bytes a checkpoint's signature covers."""
    document = {"seq": seq, "hash": chain_hash, "at": canonical_time(at), "key_id": signer}
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def key_id(public: Ed25519PublicKey) -> str:
    """A short name of a public key: the first 16 hex digits of SHA-256 of its raw 32 bytes."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _raw_b64(text: str) -> bytes | None:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


def load_private_key(text: str) -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM (PKCS#8) or its raw 32 bytes in base64; ``ValueError`` naming no secret."""
    if "-----BEGIN" in text:
        try:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise ValueError("the audit signing key is not a readable unencrypted PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the audit signing key must be an Ed25519 key")
        return key
    raw = _raw_b64(text)
    if raw is None:
        raise ValueError("the audit signing key must be PEM or 32 bytes in base64")
    return Ed25519PrivateKey.from_private_bytes(raw)


def load_public_key(text: str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM (SubjectPublicKeyInfo) or its raw 32 bytes in base64."""
    if "-----BEGIN" in text:
        try:
            key = serialization.load_pem_public_key(text.encode())
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise ValueError("not a readable PEM public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the public key must be an Ed25519 key")
        return key
    raw = _raw_b64(text)
    if raw is None:
        raise ValueError("the public key must be PEM or 32 bytes in base64")
    return Ed25519PublicKey.from_public_bytes(raw)


def public_b64(public: Ed25519PublicKey) -> str:
    """The raw public key in base64 (what ``audit verify --public-key-b64`` takes)."""
    return base64.b64encode(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()


def new_keys() -> dict[str, str]:
    """A fresh signing key (raw, base64), its public key (base64 and PEM), its key id, and an HMAC audit key."""
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = private.public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {
        "signing_key": base64.b64encode(raw).decode(),
        "public_key": public_b64(public),
        "public_key_pem": pem.decode(),
        "key_id": key_id(public),
        "audit_key": secrets.token_urlsafe(32),
    }
