"""Sealing personal data at rest (AES-256-GCM, key ring, row binding), the retention sweep and the CLI's key."""

from __future__ import annotations

import base64
import json
import re
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from gateway import Settings
from gateway.cli import main
from gateway.store import (
    KeyRing,
    SealedDataError,
    StoreError,
    generate_data_key,
    open_json,
    open_json_text,
    open_text,
    purge_expired,
    seal_json,
    seal_text,
    stored_data_keys,
)

NIK = "3201014708900001"
NAME = "SITI AMINAH BINTI SUPARDI"
#: A typical stored envelope: applicant, consent, payload.
ENVELOPE: dict[str, Any] = {
    "applicant": {"nik": NIK},
    "consent": {"given_at": "2026-11-22T08:00:00+07:00", "purpose": "verifikasi", "method": "signature"},
    "payload": {"full_name": NAME, "birth_date": "1990-08-07", "birth_place": "BOGOR", "address": "JL. MAWAR 7"},
    "callback_url": None,
}
TOKEN = re.compile(r"^mppenc:v1:[A-Za-z0-9_.-]+:[A-Za-z0-9_-]+$")


def ring(*kids: str) -> KeyRing:
    return KeyRing.parse(",".join(generate_data_key(kid) for kid in kids))


@pytest.fixture
def keys() -> KeyRing:
    """A ring of one fresh key, 'k1'."""
    return ring("k1")


def test_a_sealed_value_opens_and_says_its_format_and_key(keys: KeyRing) -> None:
    """seal gives mppenc:v1:<kid>:<base64url>, a fresh nonce each time, and open gives the plaintext back."""
    first = keys.seal(b"secret", column="requests.result", row="req_1")
    second = keys.seal(b"secret", column="requests.result", row="req_1")
    assert TOKEN.match(first) and first.startswith("mppenc:v1:k1:")
    assert first != second
    assert keys.open(first, column="requests.result", row="req_1") == b"secret"
    assert len(base64.urlsafe_b64decode(first.rsplit(":", 1)[1] + "==")) == 12 + len(b"secret") + 16


@pytest.mark.parametrize(
    ("column", "row"),
    [("requests.result", "req_2"), ("requests.envelope", "req_1"), ("webhooks.body", "req_1")],
    ids=["another row", "another column", "another table"],
)
def test_a_value_moved_elsewhere_does_not_open(keys: KeyRing, column: str, row: str) -> None:
    """The associated data binds a value to its row and column: moved anywhere else, it fails, naming where."""
    token = keys.seal(b"secret", column="requests.result", row="req_1")
    with pytest.raises(SealedDataError, match="integrity check") as caught:
        keys.open(token, column=column, row=row)
    assert (caught.value.column, caught.value.row) == (column, row)
    assert isinstance(caught.value, StoreError) and row in str(caught.value) and column in str(caught.value)


def test_every_single_byte_change_of_a_stored_json_value_is_detected(keys: KeyRing) -> None:
    """Whichever byte of a sealed JSON column value changes (quotes and prefix too), opening it fails cleanly."""
    stored = seal_json(keys, ENVELOPE, column="requests.envelope", row="req_1")
    assert stored is not None and json.loads(stored).startswith("mppenc:v1:k1:")
    for position in range(len(stored)):
        changed = stored[:position] + chr(ord(stored[position]) ^ 0x01) + stored[position + 1 :]
        with pytest.raises(SealedDataError) as caught:
            open_json(keys, changed, column="requests.envelope", row="req_1")
        assert NIK not in str(caught.value) and NAME not in str(caught.value)


def test_every_single_byte_change_of_a_sealed_text_value_is_detected(keys: KeyRing) -> None:
    """A sealed agency reference never passes for a plain one after any one-byte change."""
    stored = seal_text(keys, "0001234567890", column="requests.agency_reference", row="req_1")
    assert stored is not None and "0001234567890" not in stored
    for position in range(len(stored)):
        changed = stored[:position] + chr(ord(stored[position]) ^ 0x01) + stored[position + 1 :]
        with pytest.raises(SealedDataError):
            open_text(keys, changed, column="requests.agency_reference", row="req_1")


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ('{"applicant": {"nik": "3201014708900001"}}', {"applicant": {"nik": NIK}}),
        ("null", None),
        (None, None),
    ],
    ids=["written before sealing", "purged", "sql null"],
)
def test_plain_and_purged_json_values_are_read(keys: KeyRing, stored: str | None, expected: Any) -> None:
    """Objects written before sealing existed are read as they are; a purged value and SQL NULL read as None."""
    assert open_json(keys, stored, column="requests.envelope", row="req_1") == expected


@pytest.mark.parametrize("stored", ['"not sealed"', "42", "[1]", "", '{"broken": ', '"mppenc:v9:k1:AAAA"'])
def test_a_json_value_that_is_neither_sealed_nor_an_object_is_refused(keys: KeyRing, stored: str) -> None:
    """Strings that are not tokens, scalars, arrays, damaged JSON and unknown versions raise SealedDataError."""
    with pytest.raises(SealedDataError):
        open_json(keys, stored, column="requests.envelope", row="req_1")


def test_the_webhook_body_opens_byte_for_byte(keys: KeyRing) -> None:
    """A webhook body is signed as stored: the opened text is exactly the JSON that was sealed."""
    body = {"event_id": "evt_1", "result": {"full_name": NAME}}
    stored = seal_json(keys, body, column="webhooks.body", row="evt_1")
    assert stored is not None and NAME not in stored
    assert open_json_text(keys, stored, column="webhooks.body", row="evt_1") == json.dumps(body, separators=(",", ":"))


def test_a_store_without_keys_writes_plain_json_and_refuses_sealed_values(keys: KeyRing) -> None:
    """Without a ring values stay plain JSON; a sealed value then raises, saying the store has no key ring."""
    assert seal_json(None, {"a": 1}, column="requests.result", row="req_1") == '{"a":1}'
    assert seal_text(None, "REF-1", column="requests.agency_reference", row="req_1") == "REF-1"
    sealed = seal_json(keys, {"a": 1}, column="requests.result", row="req_1")
    for opener in (open_json, open_text):
        with pytest.raises(SealedDataError, match="no data key ring"):
            opener(None, sealed, column="requests.result", row="req_1")


def test_rotation_opens_old_values_by_their_key_id_and_seals_new_ones_with_the_first() -> None:
    """A ring with a new key first seals under it and still opens values sealed under the old one."""
    old_key = generate_data_key("2025")
    old = KeyRing.parse(old_key)
    sealed_before = old.seal(b"before", column="requests.result", row="req_1")
    rotated = KeyRing.parse(f"{generate_data_key('2026')},{old_key}")
    sealed_after = rotated.seal(b"after", column="requests.result", row="req_2")
    assert sealed_before.startswith("mppenc:v1:2025:") and sealed_after.startswith("mppenc:v1:2026:")
    assert rotated.open(sealed_before, column="requests.result", row="req_1") == b"before"
    assert rotated.open(sealed_after, column="requests.result", row="req_2") == b"after"
    assert rotated.kids == ("2026", "2025")


def test_a_value_sealed_under_a_key_the_ring_lacks_names_the_key_id() -> None:
    """A missing kid is a clear error naming the kid and MPP_DATA_KEYS, never the value."""
    sealed = ring("gone").seal(NIK.encode(), column="requests.envelope", row="req_9")
    with pytest.raises(SealedDataError) as caught:
        ring("other").open(sealed, column="requests.envelope", row="req_9")
    message = str(caught.value)
    assert "'gone'" in message and "MPP_DATA_KEYS" in message and "req_9" in message and NIK not in message


_KEY = base64.b64encode(bytes(range(32))).decode()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("k1", "not 'kid:base64key'"),
        ("k1:not*base64", "not base64"),
        ("k1:" + base64.b64encode(b"x" * 16).decode(), "not 32 bytes"),
        (f"k1:{_KEY},k1:{_KEY}", "twice"),
        (f"k/1:{_KEY}", "letters, digits"),
    ],
    ids=["empty", "no colon", "bad base64", "AES-128 key", "duplicate id", "bad id"],
)
def test_bad_key_rings_are_refused_without_echoing_key_material(text: str, reason: str) -> None:
    """Each malformed MPP_DATA_KEYS raises ValueError saying what is wrong, never the key's bytes."""
    with pytest.raises(ValueError, match=re.escape(reason)) as caught:
        KeyRing.parse(text)
    assert "MPP_DATA_KEYS" in str(caught.value) and _KEY not in str(caught.value)


def test_both_base64_alphabets_and_whitespace_separators_are_accepted() -> None:
    """Keys from `openssl rand -base64 32` or urlsafe encoders, separated by commas or newlines, both parse."""
    urlsafe = base64.urlsafe_b64encode(bytes(range(200, 232))).decode().rstrip("=")
    parsed = KeyRing.parse(f"a:{_KEY}\n b:{urlsafe} ,")
    assert parsed.kids == ("a", "b")


def test_the_ring_and_the_settings_never_show_the_keys() -> None:
    """repr lists the key ids only, and the settings leave the key ring out of theirs."""
    key = generate_data_key("shown")
    assert repr(KeyRing.parse(key)) == "KeyRing(kids=['shown'])"
    assert key.split(":", 1)[1] not in repr(KeyRing.parse(key))
    settings = Settings.from_env({"MPP_DATA_KEYS": key, "MPP_RETENTION_DAYS": "0.5"})
    assert settings.data_keys == key and settings.retention_days == 0.5
    assert key.split(":", 1)[1] not in repr(settings)


def test_configured_reads_the_variable_then_the_file_and_says_how_to_make_a_key(tmp_path: Path) -> None:
    """MPP_DATA_KEYS wins, MPP_DATA_KEYS_FILE is read otherwise, and neither is an error naming the keygen command."""
    key_file = tmp_path / "keys"
    key_file.write_text(generate_data_key("file") + "\n", encoding="utf-8")
    assert KeyRing.configured(generate_data_key("env"), str(key_file)).kids == ("env",)
    assert KeyRing.configured(None, str(key_file)).kids == ("file",)
    with pytest.raises(ValueError, match="keygen --data-key"):
        KeyRing.configured(None, None)


def test_stored_keys_are_made_once_owner_only_and_kept(tmp_path: Path) -> None:
    """The demo's key file is created 0600 on first use and read back unchanged afterwards."""
    path = tmp_path / "var" / "gateway.sqlite3.data-keys"
    first = stored_data_keys(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stored_data_keys(path) == first and KeyRing.parse(first).kids


def test_keygen_prints_a_data_key(capsys: pytest.CaptureFixture[str]) -> None:
    """`mpp-gateway keygen --data-key` prints one kid:base64key line that parses as a ring of one AES-256 key."""
    assert main(["keygen", "--data-key"]) == 0
    line = capsys.readouterr().out.strip()
    assert re.fullmatch(r"\d{8}-[0-9a-f]{6}:[A-Za-z0-9+/]{43}=", line)
    assert len(KeyRing.parse(line).kids) == 1


def test_serve_refuses_to_start_without_a_data_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No MPP_DATA_KEYS: serve exits 2 before opening anything, saying how to make a key."""
    clients = tmp_path / "clients.json"
    clients.write_text(json.dumps({"clients": [{"id": "c", "name": "C", "key_sha256": ["0" * 64]}]}))
    for name in ("MPP_DATA_KEYS", "MPP_DATA_KEYS_FILE", "MPP_STORE_DSN", "MPP_AGENCY_SETTINGS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MPP_CLIENTS_FILE", str(clients))
    monkeypatch.setenv("MPP_STORE_PATH", str(tmp_path / "never.sqlite3"))
    monkeypatch.setenv("MPP_ADAPTERS", "dukcapil")
    for name, value in {"BASE_URL": "http://127.0.0.1:9", "INSTITUTION": "i", "USER_ID": "u", "PASSWORD": "p",
                        "IP_USER": "127.0.0.1"}.items():  # fmt: skip
        monkeypatch.setenv(f"MPP_AGENCY__DUKCAPIL__{name}", value)
    assert main(["serve", "--host", "127.0.0.1", "--port", "9"]) == 2
    err = capsys.readouterr().err
    assert "cannot start" in err and "MPP_DATA_KEYS" in err and "mpp-gateway keygen --data-key" in err
    assert not (tmp_path / "never.sqlite3").exists()


class _CountingStore:
    def __init__(self, batches: list[int]) -> None:
        self.batches = batches
        self.cutoffs: list[float] = []
        self.nib_calls = 0

    async def purge_personal_data(self, older_than: float, *, limit: int = 500) -> int:
        self.cutoffs.append(older_than)
        return self.batches.pop(0)

    async def purge_documents(self, older_than: float, *, limit: int = 500) -> int:
        self.nib_calls += 1
        return 0


async def test_the_sweep_purges_batch_after_batch_until_one_is_short() -> None:
    """purge_expired calls the store until a batch comes back smaller than the limit, at one fixed cutoff."""
    store = _CountingStore([2, 2, 1])
    done = await purge_expired(store, retention_seconds=10, batch=2, clock=lambda: 1000.0)  # type: ignore[arg-type]
    assert done == (5, 0)
    assert store.cutoffs == [990.0, 990.0, 990.0] and store.nib_calls == 1


@pytest.mark.parametrize(("retention", "batch"), [(0, 10), (-1, 10), (10, 0)])
async def test_the_sweep_refuses_a_non_positive_period_or_batch(retention: float, batch: int) -> None:
    """A zero or negative retention period or batch is a configuration error, not a purge of everything."""
    with pytest.raises(ValueError, match="positive"):
        await purge_expired(_CountingStore([]), retention_seconds=retention, batch=batch)  # type: ignore[arg-type]


def test_seal_and_open_cost_per_typical_envelope(keys: KeyRing, record_property: Any) -> None:
    """Measured, not asserted: microseconds per seal and per open of a typical envelope (run with -rP to see)."""
    rounds = 2000
    started = time.perf_counter()
    stored = [seal_json(keys, ENVELOPE, column="requests.envelope", row=f"req_{i}") for i in range(rounds)]
    sealed = time.perf_counter()
    opened = [open_json(keys, s, column="requests.envelope", row=f"req_{i}") for i, s in enumerate(stored)]
    finished = time.perf_counter()
    assert opened[-1] == ENVELOPE
    seal_us, open_us = (sealed - started) / rounds * 1e6, (finished - sealed) / rounds * 1e6
    record_property("seal_us", round(seal_us, 1))
    record_property("open_us", round(open_us, 1))
    print(f"envelope of {len(json.dumps(ENVELOPE))} bytes: seal {seal_us:.1f} us, open {open_us:.1f} us")
