"""adapters.bpjs_kesehatan.lzstring: decompression exactly as the reference JavaScript lz-string compresses."""

from __future__ import annotations

import pytest

from adapters.bpjs_kesehatan.lzstring import (
    DEFAULT_MAX_LENGTH,
    URI_SAFE_ALPHABET,
    LzStringError,
    decompress_from_encoded_uri_component,
)
from tests import fixtures

VECTORS = fixtures.load("bpjs_kesehatan", "lzstring_vectors")["vectors"]


def test_vectors_cover_the_cases_that_matter() -> None:
    """The Node-made vectors include ASCII, JSON, Indonesian, empty, long repetitive and non-BMP text."""
    names = {vector["name"] for vector in VECTORS}
    assert {"ascii", "json", "indonesian", "empty", "long-repetitive", "non-bmp", "kwkwk", "long-varied"} <= names
    assert "lz-string 1.5.0" in fixtures.load("bpjs_kesehatan", "lzstring_vectors")["generator"]


@pytest.mark.parametrize("vector", VECTORS, ids=[vector["name"] for vector in VECTORS])
def test_decompresses_every_reference_vector(vector: dict[str, str]) -> None:
    """What the reference compressToEncodedURIComponent produced decompresses to the original text."""
    assert decompress_from_encoded_uri_component(vector["compressed"]) == vector["text"]


def test_surrogate_pairs_become_one_character() -> None:
    """A character outside the BMP, two UTF-16 units on the wire, comes back as one Python character."""
    vector = next(v for v in VECTORS if v["name"] == "non-bmp")
    text = decompress_from_encoded_uri_component(vector["compressed"])
    assert "\U0001f600" in text
    assert not any(0xD800 <= ord(char) <= 0xDFFF for char in text)


def test_spaces_read_as_plus() -> None:
    """A '+' that URL decoding turned into a space is read as '+', as the reference does."""
    vector = next(v for v in VECTORS if "+" in v["compressed"])
    assert decompress_from_encoded_uri_component(vector["compressed"].replace("+", " ")) == vector["text"]


def test_alphabet_is_the_references() -> None:
    """The alphabet is the reference's 65 distinct characters, ending in '+', '-' and the never-produced '$'."""
    assert len(set(URI_SAFE_ALPHABET)) == len(URI_SAFE_ALPHABET) == 65
    assert URI_SAFE_ALPHABET.endswith("+-$")


def _stream(*fields: tuple[int, int]) -> str:
    """Text carrying each (value, bits) field least significant bit first, six bits per character, zero-padded."""
    bits = [(value >> i) & 1 for value, width in fields for i in range(width)]
    bits += [0] * (-len(bits) % 6)
    return "".join(URI_SAFE_ALPHABET[int("".join(map(str, bits[i : i + 6])), 2)] for i in range(0, len(bits), 6))


def test_stream_helper_builds_what_the_reference_built() -> None:
    """The helper's 'a' (literal 97, end marker) is the reference's vector, so the broken streams below are real."""
    single = next(v for v in VECTORS if v["name"] == "single-char")["compressed"]
    assert _stream((0, 2), (97, 8), (2, 3)) == single


JSON_VECTOR = next(v for v in VECTORS if v["name"] == "json")["compressed"]

BROKEN = [
    pytest.param("", "empty", id="empty"),
    pytest.param(JSON_VECTOR[:10] + "!" + JSON_VECTOR[11:], "alphabet", id="character-outside-alphabet"),
    pytest.param(JSON_VECTOR[:-6], "end marker", id="truncated"),
    pytest.param("AAAA", "end marker", id="zeros-without-end"),
    pytest.param(_stream((3, 2)), "phrase reference", id="starts-with-a-phrase"),
    pytest.param(_stream((0, 2), (97, 8), (7, 3), (2, 3)), "not defined", id="undefined-phrase"),
]


@pytest.mark.parametrize(("text", "message"), BROKEN)
def test_broken_streams_raise_without_quoting_the_text(text: str, message: str) -> None:
    """Where the reference returns null or an empty string, a LzStringError says what broke, not what was sent."""
    with pytest.raises(LzStringError, match=message) as caught:
        decompress_from_encoded_uri_component(text)
    if len(text) > 4:
        assert text not in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_expansion_is_capped() -> None:
    """A stream that would expand past the cap is refused; the same stream under the cap decompresses."""
    vector = next(v for v in VECTORS if v["name"] == "long-repetitive")
    size = len(vector["text"])
    assert decompress_from_encoded_uri_component(vector["compressed"], max_length=size) == vector["text"]
    with pytest.raises(LzStringError, match="expands past"):
        decompress_from_encoded_uri_component(vector["compressed"], max_length=size - 1)
    assert size < DEFAULT_MAX_LENGTH
