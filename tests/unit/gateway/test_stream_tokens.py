"""gateway.security stream tokens: bound to client and request, single use, short-lived, verifiable by replicas."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from gateway import Settings
from gateway.security import InvalidStreamToken, StreamTokens

KEY = b"k" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_opens_its_request_once() -> None:
    """A fresh token names its client for its request; the second redemption is refused."""
    tokens = StreamTokens(KEY)
    issued = tokens.issue("counter-a", "req_1")
    assert tokens.redeem(issued.token, "req_1") == "counter-a"
    with pytest.raises(InvalidStreamToken, match="used already"):
        tokens.redeem(issued.token, "req_1")


def test_a_token_expires() -> None:
    """A token is refused from its expiry on, and accepted until just before."""
    clock = Clock()
    tokens = StreamTokens(KEY, lifetime_seconds=60, clock=clock)
    late, early = tokens.issue("counter-a", "req_1"), tokens.issue("counter-a", "req_1")
    assert late.expires_in == 60
    clock.now += 59
    assert tokens.redeem(early.token, "req_1") == "counter-a"
    clock.now += 1
    with pytest.raises(InvalidStreamToken, match="expired"):
        tokens.redeem(late.token, "req_1")


def test_a_token_opens_no_other_request() -> None:
    """A token for one request is refused for another, and stays usable for its own."""
    tokens = StreamTokens(KEY)
    issued = tokens.issue("counter-a", "req_1")
    with pytest.raises(InvalidStreamToken, match="another request"):
        tokens.redeem(issued.token, "req_2")
    assert tokens.redeem(issued.token, "req_1") == "counter-a"


def test_another_replica_with_the_key_verifies_a_token_and_one_without_does_not() -> None:
    """A replica configured with the same key takes the token; a different key refuses it."""
    issued = StreamTokens(KEY).issue("counter-a", "req_1")
    assert StreamTokens(KEY).redeem(issued.token, "req_1") == "counter-a"
    with pytest.raises(InvalidStreamToken, match="not valid"):
        StreamTokens(b"o" * 32).redeem(issued.token, "req_1")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature changed
        lambda t: t.replace("mppst_", "mppst_x", 1),  # payload changed
        lambda t: t.partition(".")[0],  # no signature
        lambda t: "mppk_" + t,  # an API key's prefix
        lambda t: t + "A" * 2000,  # far too long
        lambda t: "",
    ],
    ids=["signature", "payload", "unsigned", "prefix", "too-long", "empty"],
)
def test_a_forged_or_mangled_token_is_refused(mangle: object) -> None:
    """Any change to an issued token makes it invalid, with a message that does not quote it."""
    tokens = StreamTokens(KEY)
    issued = tokens.issue("counter-a", "req_1")
    forged = mangle(issued.token)  # type: ignore[operator]
    with pytest.raises(InvalidStreamToken) as caught:
        tokens.redeem(forged, "req_1")
    assert issued.token not in str(caught.value) and (not forged or forged not in str(caught.value))


def test_tokens_are_distinct_and_their_repr_hides_key_and_token() -> None:
    """Two tokens for the same stream differ (a nonce each); neither repr shows a secret."""
    tokens = StreamTokens(KEY)
    first, second = tokens.issue("counter-a", "req_1"), tokens.issue("counter-a", "req_1")
    assert first.token != second.token
    assert first.token not in repr(first) and "kkkk" not in repr(tokens)


def test_the_key_comes_from_the_settings_or_a_file(tmp_path: Path) -> None:
    """MPP_STREAM_TOKEN_KEY and MPP_STREAM_TOKEN_KEY_FILE both configure the shared key; too short is refused."""
    key_file = tmp_path / "stream-token-key"
    key_file.write_text("f" * 40 + "\n", encoding="utf-8")
    by_file = StreamTokens.from_settings(Settings.from_env({"MPP_STREAM_TOKEN_KEY_FILE": str(key_file)}))
    direct = StreamTokens.from_settings(Settings.from_env({"MPP_STREAM_TOKEN_KEY": "f" * 40}))
    assert by_file.shared and direct.shared
    assert direct.redeem(by_file.issue("counter-a", "req_1").token, "req_1") == "counter-a"
    unset = StreamTokens.from_settings(Settings())
    assert not unset.shared
    with pytest.raises(ValueError, match="MPP_STREAM_TOKEN_KEY must be at least 32 bytes"):
        StreamTokens.from_settings(dataclasses.replace(Settings(), stream_token_key="short"))
    assert "f" * 40 not in repr(Settings.from_env({"MPP_STREAM_TOKEN_KEY": "f" * 40}))


def test_replicas_on_a_shared_store_without_the_key_are_warned(monkeypatch: pytest.MonkeyPatch) -> None:
    """With MPP_STORE_DSN (several replicas) and no MPP_STREAM_TOKEN_KEY, one warning; a single process, none."""
    monkeypatch.setattr("gateway.security._stream_tokens.log", structlog.get_logger("gateway.security"))
    with capture_logs() as logs:
        StreamTokens.from_settings(Settings())
        StreamTokens.from_settings(Settings(store_dsn="postgresql://mpp@db/mpp", stream_token_key="f" * 32))
        StreamTokens.from_settings(Settings(store_dsn="postgresql://mpp@db/mpp"))
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["stream_tokens.unshared_key"]
