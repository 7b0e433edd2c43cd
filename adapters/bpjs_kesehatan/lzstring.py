"""LZ-string's ``decompressFromEncodedURIComponent``, the last step of reading a VClaim v2 ``response``.

BPJS compresses the JSON of every ``response`` with the JavaScript library lz-string (pieroxy, MIT) before it
encrypts it. Only decompression is needed here, so it is written out from the reference algorithm (lz-string
1.5.0) instead of depending on an unmaintained PyPI port; the tests check it against vectors the reference
JavaScript produced.

lz-string works on UTF-16 code units, as JavaScript strings do: characters outside the Basic Multilingual Plane
arrive as surrogate pairs and are joined here into one Python character.

Where the reference returns ``null`` or ``""`` for input it cannot read (an empty string, a stream that ends
without its end marker, a reference to a phrase not yet defined), this function raises :class:`LzStringError`
instead: a reply that decompresses to nothing is a broken reply, and the caller must be able to tell.
"""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_LENGTH", "URI_SAFE_ALPHABET", "LzStringError", "decompress_from_encoded_uri_component"]

URI_SAFE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-$"
"""The reference's alphabet: the first 64 characters carry 6 bits each; ``$`` (64) is listed but never produced,
and reads as zero bits, as in the reference."""

DEFAULT_MAX_LENGTH = 16 * 1024 * 1024
"""Most UTF-16 code units a stream may expand to. A participant record is about a kilobyte; the cap exists because
each code can repeat a phrase one unit longer than the last, so a few megabytes of input could otherwise expand to
gigabytes."""

_VALUES = {char: index for index, char in enumerate(URI_SAFE_ALPHABET)}
_BITS_PER_CHAR = 6
_END_OF_STREAM = 2


class LzStringError(ValueError):
    """The text is not a complete lz-string stream. The message never quotes the text."""


class _BitReader:
    """Reads the stream's bits, least significant first within each value, as the reference does."""

    __slots__ = ("_index", "_position", "_text", "_value")

    def __init__(self, text: str) -> None:
        self._text = text
        self._index = 1
        self._value = self._char_value(0)
        self._position = 1 << (_BITS_PER_CHAR - 1)

    def _char_value(self, index: int) -> int:
        if index >= len(self._text):
            # Past the end the reference reads zeros; whether the stream was complete is judged by the caller.
            return 0
        value = _VALUES.get(self._text[index])
        if value is None:
            raise LzStringError(f"character {index} is outside the URI-safe alphabet")
        return value

    @property
    def exhausted(self) -> bool:
        """More characters were consumed than the text holds: the reference's ``data.index > length``."""
        return self._index > len(self._text)

    def read(self, bits: int) -> int:
        result = 0
        for power in range(bits):
            if self._value & self._position:
                result |= 1 << power
            self._position >>= 1
            if self._position == 0:
                self._position = 1 << (_BITS_PER_CHAR - 1)
                self._value = self._char_value(self._index)
                self._index += 1
        return result


def decompress_from_encoded_uri_component(text: str, *, max_length: int = DEFAULT_MAX_LENGTH) -> str:
    """The string that lz-string's ``compressToEncodedURIComponent`` turned into ``text``.

    Spaces count as ``+`` (the reference's allowance for a ``+`` that URL decoding turned into a space).
    Raises :class:`LzStringError` when ``text`` is empty, holds a character outside the alphabet, is not a
    complete stream, or expands past ``max_length`` UTF-16 code units.
    """
    if not text:
        raise LzStringError("an empty text is not an lz-string stream")
    units = _decompress(_BitReader(text.replace(" ", "+")), max_length)
    # Each character so far is one UTF-16 code unit: a round trip through UTF-16 joins surrogate pairs into one
    # character and keeps a lone surrogate as it is, as JavaScript would.
    return units.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def _literal(reader: _BitReader, code: int) -> str | None:
    """The code unit of a literal entry (code 0: 8 bits, 1: 16 bits), ``None`` for the end marker."""
    if code == 0:
        return chr(reader.read(8))
    if code == 1:
        return chr(reader.read(16))
    if code == _END_OF_STREAM:
        return None
    raise LzStringError("the stream starts with a phrase reference")


def _decompress(reader: _BitReader, max_length: int) -> str:
    # Phrases are strings of UTF-16 code units; codes 0-2 are control codes and never index a phrase.
    first = _literal(reader, reader.read(2))
    if first is None:
        return ""
    dictionary: dict[int, str] = {3: first}
    dict_size = 4
    num_bits = 3
    enlarge_in = 4
    word = first
    result = [first]
    length = 1
    while True:
        if reader.exhausted:
            raise LzStringError("the stream ends without its end marker")
        code = reader.read(num_bits)
        if code == _END_OF_STREAM:
            return "".join(result)
        if code in (0, 1):
            dictionary[dict_size] = chr(reader.read(8 if code == 0 else 16))
            code = dict_size
            dict_size += 1
            enlarge_in -= 1
        if enlarge_in == 0:
            enlarge_in = 1 << num_bits
            num_bits += 1
        if code in dictionary:
            entry = dictionary[code]
        elif code == dict_size:
            # The KwKwK case: the phrase being defined is used at once.
            entry = word + word[0]
        else:
            raise LzStringError("the stream refers to a phrase it has not defined")
        length += len(entry)
        if length > max_length:
            raise LzStringError(f"the stream expands past {max_length} characters")
        result.append(entry)
        dictionary[dict_size] = word + entry[0]
        dict_size += 1
        enlarge_in -= 1
        word = entry
        if enlarge_in == 0:
            enlarge_in = 1 << num_bits
            num_bits += 1
