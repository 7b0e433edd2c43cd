"""VClaim v2's request signature and response decryption (docs/agencies.md, section 1).

- ``X-signature`` = ``base64(HMAC-SHA256(key=consumer_secret, msg=cons_id + "&" + timestamp))``, standard base64
  with padding.
- ``response`` = ``base64(AES-256-CBC(PKCS#7(lz-string(json))))``, key ``SHA-256(cons_id + consumer_secret +
  timestamp)`` (32 raw bytes), IV the key's first 16 bytes, ``timestamp`` being the ``X-timestamp`` the client
  sent on that very request. Only ``response`` is encrypted; ``metaData`` stays plain.

Every failure to read a ``response`` is a :class:`DecryptionError` whose message names the step that failed and
never the data: the plaintext is a citizen's record, and even a fragment of it must not reach a log.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .lzstring import LzStringError, decompress_from_encoded_uri_component

__all__ = [
    "DecryptionError",
    "decrypt",
    "decrypt_response",
    "hmac_sha256_base64",
    "response_key",
    "signature",
]

_BLOCK = 16


class DecryptionError(ValueError):
    """A ``response`` that cannot be read: bad base64, length, padding, text or compression."""


def hmac_sha256_base64(message: str, key: str) -> str:
    """Standard base64 (with padding) of HMAC-SHA256 of ``message`` under ``key``, both UTF-8."""
    digest = hmac.new(key.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signature(cons_id: str, consumer_secret: str, timestamp: str) -> str:
    """The ``X-signature`` header for a request stamped ``timestamp``."""
    return hmac_sha256_base64(f"{cons_id}&{timestamp}", consumer_secret)


def response_key(cons_id: str, consumer_secret: str, timestamp: str) -> bytes:
    """The 32-byte AES key of the reply to a request stamped ``timestamp``; its IV is ``key[:16]``."""
    return hashlib.sha256(f"{cons_id}{consumer_secret}{timestamp}".encode()).digest()


def decrypt(ciphertext: str, key: bytes) -> str:
    """The text inside ``ciphertext`` (base64 of AES-256-CBC with PKCS#7 padding, IV ``key[:16]``).

    The padding is checked and stripped: a client that keeps it (as ``basoro/pybpjs`` does) hands lz-string
    trailing bytes that corrupt the last characters.
    """
    try:
        raw = base64.b64decode("".join(ciphertext.split()), validate=True)
    except (binascii.Error, ValueError):
        raise DecryptionError("the response is not valid base64") from None
    if not raw or len(raw) % _BLOCK:
        raise DecryptionError("the response is not a whole number of AES blocks")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:_BLOCK])).decryptor()
    padded = decryptor.update(raw) + decryptor.finalize()
    unpadder = padding.PKCS7(_BLOCK * 8).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise DecryptionError("the response's PKCS#7 padding is invalid (wrong key or corrupted data)") from None
    if not plain.isascii():
        # lz-string's URI-safe output is ASCII: anything else decrypted with the wrong key or was never ours. (A
        # check, not a caught UnicodeDecodeError: that error would carry the plaintext along in the chain.)
        raise DecryptionError("the decrypted response is not lz-string text")
    return plain.decode("ascii")


def decrypt_response(ciphertext: str, *, cons_id: str, consumer_secret: str, timestamp: str) -> str:
    """The JSON text of a ``response`` encrypted for the request stamped ``timestamp``."""
    compressed = decrypt(ciphertext, response_key(cons_id, consumer_secret, timestamp))
    try:
        return decompress_from_encoded_uri_component(compressed)
    except LzStringError as exc:
        raise DecryptionError(f"the decrypted response does not decompress: {exc}") from None
