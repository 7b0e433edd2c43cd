"""Personal data at rest: values sealed with AES-256-GCM under a key ring, each bound to its row and column.

A sealed value is text, versioned and self-describing::

    mppenc:v1:<kid>:<base64url(nonce || ciphertext || tag)>

with a fresh 96-bit random nonce per value. The associated data is the table, the column and the row's id, so a
ciphertext copied into another row or column fails to open, as does one altered by a single bit. JSON columns hold
it as a JSON string (``"mppenc:v1:..."``); a JSON object in such a column is a value written before sealing
existed, read as it is (upgrading keeps old records readable, and the retention purge removes them in time).

The key ring comes from ``MPP_DATA_KEYS`` (or the file ``MPP_DATA_KEYS_FILE`` names): ``kid:base64key`` entries
separated by commas. The first seals; every one opens what was sealed under its kid, so a key is rotated by putting
a new one first and keeping the old ones until the retention period has passed.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
import re
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ._port import StoreError

__all__ = [
    "KeyRing",
    "SealedDataError",
    "generate_data_key",
    "kept_secret",
    "open_json",
    "open_json_text",
    "open_text",
    "seal_json",
    "seal_text",
    "stored_data_keys",
]

_MAGIC = "mppenc"
_VERSION = "v1"
_NONCE = 12
_TAG = 16
_KID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_SEPARATORS = re.compile(r"[,\s]+")
#: How to make a key, for every message that asks for one.
_HOW_TO_MAKE_ONE = "`mpp-gateway keygen --data-key` prints one"


class SealedDataError(StoreError):
    """A stored value could not be opened: altered, moved from another row or column, or sealed with a key the
    ring does not hold. The message names the column and the row, never the value."""

    def __init__(self, column: str, row: str, reason: str) -> None:
        super().__init__(f"{column} of {row} could not be opened: {reason}")
        self.column = column
        self.row = row


class KeyRing:
    """AES-256-GCM keys by id: the first seals, each opens what was sealed under its id."""

    __slots__ = ("_ciphers", "_prefix", "_sealer", "kids")

    def __init__(self, keys: Iterable[tuple[str, bytes]]) -> None:
        ciphers: dict[str, AESGCM] = {}
        for kid, key in keys:
            if not _KID.match(kid):
                raise ValueError("a data key id is 1-32 letters, digits, '.', '_' or '-'")
            if len(key) != 32:
                raise ValueError(f"data key {kid!r} is not 32 bytes (AES-256)")
            if kid in ciphers:
                raise ValueError(f"data key id {kid!r} appears twice")
            ciphers[kid] = AESGCM(key)
        if not ciphers:
            raise ValueError(f"the data key ring is empty: {_HOW_TO_MAKE_ONE}")
        self._ciphers = ciphers
        #: The key ids, the sealing one first.
        self.kids: tuple[str, ...] = tuple(ciphers)
        self._sealer = ciphers[self.kids[0]]
        self._prefix = f"{_MAGIC}:{_VERSION}:{self.kids[0]}:"

    def __repr__(self) -> str:  # the keys themselves never show
        return f"KeyRing(kids={list(self.kids)!r})"

    @classmethod
    def parse(cls, text: str, *, source: str = "MPP_DATA_KEYS") -> KeyRing:
        """Read ``kid:base64key`` entries separated by commas or whitespace; a bad entry is named by its position."""
        keys = []
        for position, entry in enumerate((e for e in _SEPARATORS.split(text.strip()) if e), start=1):
            kid, sep, encoded = entry.partition(":")
            if not sep:
                raise ValueError(f"{source}: entry {position} is not 'kid:base64key' ({_HOW_TO_MAKE_ONE})")
            try:
                key = base64.b64decode(_standard(encoded), validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"{source}: the key of entry {position} is not base64") from None
            keys.append((kid, key))
        try:
            return cls(keys)
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from None

    @classmethod
    def configured(cls, keys: str | None, keys_file: str | None) -> KeyRing:
        """The ring of ``MPP_DATA_KEYS``, else of the file ``MPP_DATA_KEYS_FILE`` names; :class:`ValueError` if
        neither is set, saying how to make a key."""
        if keys:
            return cls.parse(keys)
        if keys_file:
            return cls.parse(Path(keys_file).read_text(encoding="utf-8"), source="MPP_DATA_KEYS_FILE")
        raise ValueError(
            "no data key to seal personal data at rest: set MPP_DATA_KEYS (or MPP_DATA_KEYS_FILE) to "
            f"'kid:base64key'; {_HOW_TO_MAKE_ONE}"
        )

    def seal(self, plaintext: bytes, *, column: str, row: str) -> str:
        """``plaintext`` sealed under the first key, bound to ``column`` of ``row``."""
        nonce = os.urandom(_NONCE)
        sealed = self._sealer.encrypt(nonce, plaintext, _aad(column, row))
        return self._prefix + base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")

    def open(self, token: str, *, column: str, row: str) -> bytes:
        """The plaintext of ``token``; :class:`SealedDataError` when it cannot be opened."""
        magic, version, kid, body = [*token.split(":", 3), "", "", ""][:4]
        if magic != _MAGIC or not _KID.match(kid) or not body:
            raise SealedDataError(column, row, "it is not a sealed value")
        if version != _VERSION:
            raise SealedDataError(column, row, "it is sealed in a format this gateway does not know")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise SealedDataError(
                column, row, f"it was sealed with key {kid!r}, which is not in the key ring (MPP_DATA_KEYS)"
            )
        try:
            blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            blob = b""
        # Only the canonical spelling opens: no stray characters, no changed spare bits in the last one.
        if base64.urlsafe_b64encode(blob).rstrip(b"=").decode("ascii") != body:
            raise SealedDataError(column, row, "it is not canonical base64url")
        if len(blob) < _NONCE + _TAG:
            raise SealedDataError(column, row, "it is truncated")
        try:
            return cipher.decrypt(blob[:_NONCE], blob[_NONCE:], _aad(column, row))
        except InvalidTag:
            raise SealedDataError(
                column, row, "it fails its integrity check (altered, moved from another row, or another key)"
            ) from None


def _standard(encoded: str) -> str:
    """Base64 in either alphabet, padded, as the standard alphabet."""
    return encoded.replace("-", "+").replace("_", "/") + "=" * (-len(encoded) % 4)


def _aad(column: str, row: str) -> bytes:
    return f"{_MAGIC}:{_VERSION}\x00{column}\x00{row}".encode()


def generate_data_key(kid: str | None = None) -> str:
    """A new random data key as ``kid:base64key``; the id defaults to today's date and a random suffix."""
    kid = kid or f"{dt.datetime.now(dt.UTC):%Y%m%d}-{secrets.token_hex(3)}"
    if not _KID.match(kid):
        raise ValueError("a data key id is 1-32 letters, digits, '.', '_' or '-'")
    return f"{kid}:{base64.b64encode(secrets.token_bytes(32)).decode('ascii')}"


def kept_secret(path: Path, make: Callable[[], str]) -> str:
    """The secret kept in ``path``, made by ``make`` on first use and written owner-only (the demo's keys)."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(value + "\n")
    return value


def stored_data_keys(path: Path) -> str:
    """The key ring kept in ``path``, made on first use (owner-only): the demo's, so that restarts open old rows."""
    return kept_secret(path, generate_data_key)


# The stores' encoders: ``keys=None`` is a store built without a key ring (tools and tests of the queue), which
# writes plain JSON as stores did before sealing, and refuses sealed values it cannot open.


def seal_json(keys: KeyRing | None, value: Any, *, column: str, row: str) -> str | None:
    """``value`` as a JSON column stores it: a sealed JSON string, or plain JSON without a key ring."""
    if value is None:
        return None
    raw = orjson.dumps(value)
    if keys is None:
        return raw.decode()
    return '"' + keys.seal(raw, column=column, row=row) + '"'


def _open_sealed_json(keys: KeyRing | None, stored: str, *, column: str, row: str) -> bytes | None:
    """The plaintext of a sealed JSON-column value, or ``None`` when ``stored`` is not sealed."""
    if stored[:1] != '"':
        return None
    if keys is None:
        raise SealedDataError(column, row, "it is sealed and this store has no data key ring")
    if len(stored) < 2 or stored[-1] != '"':
        raise SealedDataError(column, row, "it is not a sealed value")
    return keys.open(stored[1:-1], column=column, row=row)


def _plain_json(stored: str, *, column: str, row: str) -> Any:
    # An object was written before sealing existed; null is a purged value. Anything else is damage.
    if stored[:1] == "{" or stored == "null":
        try:
            return orjson.loads(stored)
        except orjson.JSONDecodeError:
            pass
    raise SealedDataError(column, row, "it is neither sealed nor a JSON object")


def open_json(keys: KeyRing | None, stored: str | None, *, column: str, row: str) -> Any:
    """The value a JSON column holds (``None`` for SQL NULL or a purged value), opened if sealed."""
    if stored is None:
        return None
    plaintext = _open_sealed_json(keys, stored, column=column, row=row)
    if plaintext is None:
        return _plain_json(stored, column=column, row=row)
    return orjson.loads(plaintext)


def open_json_text(keys: KeyRing | None, stored: str, *, column: str, row: str) -> str:
    """The JSON text a JSON column's value stands for, byte for byte what was sealed (a signed webhook body)."""
    plaintext = _open_sealed_json(keys, stored, column=column, row=row)
    if plaintext is None:
        _plain_json(stored, column=column, row=row)
        return stored
    return plaintext.decode()


def seal_text(keys: KeyRing | None, value: str | None, *, column: str, row: str) -> str | None:
    """A text column's value, sealed (as a quoted token) when there is a key ring."""
    if value is None or keys is None:
        return value
    return '"' + keys.seal(value.encode(), column=column, row=row) + '"'


def open_text(keys: KeyRing | None, stored: str | None, *, column: str, row: str) -> str | None:
    """A text column's value, opened if sealed.

    A sealed value holds two quotes and plain values (agency references) none, so no single changed byte can make a
    sealed value pass for a plain one.
    """
    if stored is None or '"' not in stored:
        return stored
    if keys is None:
        raise SealedDataError(column, row, "it is sealed and this store has no data key ring")
    if len(stored) < 2 or stored[0] != '"' or stored[-1] != '"':
        raise SealedDataError(column, row, "it is not a sealed value")
    return keys.open(stored[1:-1], column=column, row=row).decode()
