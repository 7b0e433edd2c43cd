"""adapters.bpjs_kesehatan.crypto: the docs/agencies.md check vectors, and decrypting what the reference encrypted."""

from __future__ import annotations

import base64

import orjson
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from adapters.bpjs_kesehatan.crypto import (
    DecryptionError,
    decrypt,
    decrypt_response,
    hmac_sha256_base64,
    response_key,
    signature,
)
from mocks.bpjs_crypto import encrypt
from tests import fixtures
from tests.fixtures.bpjs_kesehatan import CHECK_VECTOR

CHECK = CHECK_VECTOR
KEY = response_key("1234", "pwd", "433223232")
HELLO_CIPHERTEXT = "/lGe64oqzlkT2FbRXudN0DfFdrozG20Tp8oXdeg2rGo="


def test_published_hmac_vector() -> None:
    """HMAC-SHA256 of 'aaa' under 'bbb' is BPJS's published 20BKS3PW...ELA=."""
    assert hmac_sha256_base64("aaa", "bbb") == "20BKS3PWnD3XU4JbSSZvVlGi2WWnDa8Sv9uHJ+wsELA="


def test_signature_check_vector() -> None:
    """cons_id 1234, secret pwd, timestamp 433223232 sign to eXMtvX2r...AHk=."""
    assert signature("1234", "pwd", "433223232") == "eXMtvX2r7e7CLCIu3kpEpCrvciZgK8FuOhKv06NDAHk="


def test_response_key_check_vector() -> None:
    """The response key of the same request is SHA-256 of '1234pwd433223232': f75bf201...5f9b, 32 bytes."""
    assert KEY.hex() == "f75bf2014da65c8f1c39a47de848ba383d051f4e218fa70774fcd3fb216c5f9b"


def test_aes_alone_check_vector() -> None:
    """The AES step alone turns /lGe64oq...rGo= back into {"hello":"world"}."""
    assert decrypt(HELLO_CIPHERTEXT, KEY) == '{"hello":"world"}'


def test_the_key_depends_on_the_timestamp() -> None:
    """Another X-timestamp gives another key: a reply only opens with its own request's timestamp."""
    assert response_key("1234", "pwd", "433223233") != KEY


@pytest.mark.parametrize("name", ["peserta_active", "peserta_deceased", "peserta_cob"])
def test_decrypts_what_the_reference_encrypted(name: str) -> None:
    """Each Node-made envelope's response decrypts and decompresses to the recorded document."""
    encrypted = fixtures.load("bpjs_kesehatan", f"envelope_{name}")["response"]
    text = decrypt_response(
        encrypted, cons_id=CHECK["cons_id"], consumer_secret=CHECK["consumer_secret"], timestamp=CHECK["timestamp"]
    )
    assert fixtures.load("bpjs_kesehatan", name) == orjson.loads(text)


def test_base64_wrapped_over_lines_is_accepted() -> None:
    """Whitespace inside the base64 (a line-wrapping encoder) does not matter."""
    wrapped = HELLO_CIPHERTEXT[:20] + "\r\n" + HELLO_CIPHERTEXT[20:]
    assert decrypt(wrapped, KEY) == '{"hello":"world"}'


def _raw_aes(data: bytes) -> str:
    """AES-256-CBC under the check key with no padding added: to stage a bad padding."""
    encryptor = Cipher(algorithms.AES(KEY), modes.CBC(KEY[:16])).encryptor()
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode()


UNREADABLE = [
    pytest.param("not base64 at all!", "base64", id="not-base64"),
    pytest.param("", "AES blocks", id="empty"),
    pytest.param(base64.b64encode(b"0123456789").decode(), "AES blocks", id="short-of-a-block"),
    pytest.param(_raw_aes(b"A" * 15 + b"\x00"), "padding", id="zero-padding"),
    pytest.param(_raw_aes(b"A" * 14 + b"\x03\x02"), "padding", id="inconsistent-padding"),
    pytest.param(_raw_aes(b"A" * 12 + b"\x11" * 4), "padding", id="padding-over-a-block"),
    pytest.param(encrypt("caf\u00e9 \u2603", KEY), "not lz-string text", id="not-ascii"),
]


@pytest.mark.parametrize(("ciphertext", "message"), UNREADABLE)
def test_unreadable_ciphertext_is_a_decryption_error(ciphertext: str, message: str) -> None:
    """Each broken step raises DecryptionError naming the step; no decoder error is chained."""
    with pytest.raises(DecryptionError, match=message) as caught:
        decrypt(ciphertext, KEY)
    error = caught.value
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


def test_wrong_key_fails_and_never_returns_garbage() -> None:
    """A reply opened with the wrong timestamp's key is refused, not returned as noise."""
    encrypted = fixtures.load("bpjs_kesehatan", "envelope_peserta_active")["response"]
    with pytest.raises(DecryptionError):
        decrypt_response(encrypted, cons_id="1234", consumer_secret="pwd", timestamp="433223233")


def test_decrypted_text_that_does_not_decompress() -> None:
    """ASCII that is not an lz-string stream is a DecryptionError that does not quote it."""
    ciphertext = encrypt("@@@@ secret text", KEY)
    with pytest.raises(DecryptionError, match="does not decompress") as caught:
        decrypt_response(ciphertext, cons_id="1234", consumer_secret="pwd", timestamp="433223232")
    assert "secret text" not in str(caught.value)


def test_kept_padding_would_corrupt_the_text() -> None:
    """Why the padding must go: decrypting without unpadding leaves bytes that are not part of the text."""
    decryptor = Cipher(algorithms.AES(KEY), modes.CBC(KEY[:16])).decryptor()
    raw = decryptor.update(base64.b64decode(HELLO_CIPHERTEXT)) + decryptor.finalize()
    assert raw != b'{"hello":"world"}'
    assert raw.startswith(b'{"hello":"world"}')
