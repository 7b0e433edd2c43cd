"""The BPJS Kesehatan mock's half of the VClaim v2 cryptography: check a signature, encrypt a ``response``.

Written apart from the adapter's half on purpose (mocks import nothing from ``adapters``): the two meet only on
the wire, so a mistake shared by both cannot hide, and the tests hold each half to the check vectors of
docs/agencies.md and to vectors that the reference JavaScript lz-string produced.

- signature: ``base64(HMAC-SHA256(key=consumer_secret, msg=cons_id + "&" + timestamp))``;
- response: ``base64(AES-256-CBC(PKCS#7(lz-string compressToEncodedURIComponent(json))))`` with
  key ``SHA-256(cons_id + consumer_secret + timestamp)`` and IV the key's first 16 bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["compress_to_encoded_uri_component", "encrypt", "encrypt_response", "response_key", "signature"]

_URI_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-$"
_BITS_PER_CHAR = 6


def signature(cons_id: str, consumer_secret: str, timestamp: str) -> str:
    """The ``X-signature`` a caller must send with ``timestamp``."""
    digest = hmac.new(consumer_secret.encode(), f"{cons_id}&{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def response_key(cons_id: str, consumer_secret: str, timestamp: str) -> bytes:
    """The AES-256 key of a reply to a request signed at ``timestamp`` (its IV is the first 16 bytes)."""
    return hashlib.sha256(f"{cons_id}{consumer_secret}{timestamp}".encode()).digest()


def encrypt(plaintext: str, key: bytes) -> str:
    """AES-256-CBC with PKCS#7 padding and IV ``key[:16]``, base64: the encryption step alone."""
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext.encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode("ascii")


def encrypt_response(document_json: str, *, cons_id: str, consumer_secret: str, timestamp: str) -> str:
    """The ``response`` string of a reply: ``document_json`` compressed, then encrypted for ``timestamp``."""
    return encrypt(compress_to_encoded_uri_component(document_json), response_key(cons_id, consumer_secret, timestamp))


class _BitWriter:
    """Collects bits into 6-bit characters, as lz-string's ``_compress`` does with ``bitsPerChar`` 6."""

    def __init__(self) -> None:
        self.chars: list[str] = []
        self._value = 0
        self._position = 0

    def bit(self, bit: int) -> None:
        self._value = (self._value << 1) | bit
        if self._position == _BITS_PER_CHAR - 1:
            self._position = 0
            self.chars.append(_URI_SAFE[self._value])
            self._value = 0
        else:
            self._position += 1

    def bits(self, value: int, count: int) -> None:
        """``count`` bits of ``value``, least significant first."""
        for _ in range(count):
            self.bit(value & 1)
            value >>= 1

    def flush(self) -> str:
        # The reference always pads with zeros up to, and including, one more character boundary.
        while True:
            self._value <<= 1
            if self._position == _BITS_PER_CHAR - 1:
                self.chars.append(_URI_SAFE[self._value])
                return "".join(self.chars)
            self._position += 1


def compress_to_encoded_uri_component(text: str) -> str:
    """lz-string's ``compressToEncodedURIComponent`` of ``text``, character for character.

    Like JavaScript, it works on UTF-16 code units: a character outside the Basic Multilingual Plane is
    compressed as its surrogate pair.
    """
    units = text.encode("utf-16-le", "surrogatepass")
    chars = [chr(int.from_bytes(units[i : i + 2], "little")) for i in range(0, len(units), 2)]
    out = _BitWriter()
    dictionary: dict[str, int] = {}
    to_create: set[str] = set()
    dict_size = 3
    num_bits = 2
    enlarge_in = 2  # the first literal is not counted, as in the reference
    word = ""

    def emit(phrase: str) -> None:
        nonlocal enlarge_in, num_bits
        if phrase in to_create:
            unit = ord(phrase[0])
            if unit < 256:
                out.bits(0, num_bits)
                out.bits(unit, 8)
            else:
                out.bits(1, num_bits)
                out.bits(unit, 16)
            enlarge_in -= 1
            if enlarge_in == 0:
                enlarge_in = 1 << num_bits
                num_bits += 1
            to_create.discard(phrase)
        else:
            out.bits(dictionary[phrase], num_bits)
        enlarge_in -= 1
        if enlarge_in == 0:
            enlarge_in = 1 << num_bits
            num_bits += 1

    for char in chars:
        if char not in dictionary:
            dictionary[char] = dict_size
            dict_size += 1
            to_create.add(char)
        joined = word + char
        if joined in dictionary:
            word = joined
            continue
        emit(word)
        dictionary[joined] = dict_size
        dict_size += 1
        word = char
    if word:
        emit(word)
    out.bits(2, num_bits)  # end of stream
    return out.flush()
