"""Browser origins in the clients file, and the CORS policy built from them."""

from __future__ import annotations

import pytest

from gateway import Client, ClientDirectory
from gateway.http import CorsPolicy
from gateway.security import web_origin


@pytest.mark.parametrize(
    ("written", "origin"),
    [
        ("https://counter.example", "https://counter.example"),
        ("HTTPS://Counter.Example", "https://counter.example"),
        ("https://counter.example:443", "https://counter.example"),
        ("http://localhost:80", "http://localhost"),
        ("http://localhost:5173", "http://localhost:5173"),
        ("https://10.1.2.3:8443", "https://10.1.2.3:8443"),
        ("http://[::1]:3000", "http://[::1]:3000"),
    ],
)
def test_an_origin_is_written_as_a_browser_sends_it(written: str, origin: str) -> None:
    """Scheme and host lower-cased, the scheme's default port dropped: what the Origin header carries."""
    assert web_origin(written) == origin


@pytest.mark.parametrize(
    ("written", "says"),
    [
        ("*", "wildcard"),
        ("https://*.example", "wildcard"),
        ("null", "scheme://host"),
        ("counter.example", "scheme://host"),
        ("ftp://counter.example", "scheme://host"),
        ("https://counter.example/", "no path"),
        ("https://counter.example/app", "no path"),
        ("https://counter.example?x=1", "no path"),
        ("https://user:pw@counter.example", "user information"),
        ("https://counter.example:99999", "invalid port"),
        ("https://bücher.example", "punycode"),
    ],
)
def test_anything_but_an_exact_origin_is_refused(written: str, says: str) -> None:
    """Wildcards, 'null', paths (even '/'), other schemes, user information and bad ports are refused."""
    with pytest.raises(ValueError, match=says):
        web_origin(written)


def test_the_clients_file_lists_each_clients_origins() -> None:
    """cors_origins are read, written as browsers send them, without repeats; absent means none."""
    directory = ClientDirectory.from_data(
        {
            "clients": [
                {"id": "a", "key_sha256": [], "cors_origins": ["https://A.example:443", "https://a.example"]},
                {"id": "b", "key_sha256": []},
            ]
        }
    )
    assert directory.clients["a"].cors_origins == ("https://a.example",)
    assert directory.clients["b"].cors_origins == ()


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("https://a.example", "must be a list"),
        ([42], r"cors_origins\[0\] must be a string"),
        (["https://a.example", "https://*.example"], r"client 'a': cors_origins\[1\] must be an exact origin"),
    ],
)
def test_a_bad_origin_in_the_clients_file_stops_the_start(value: object, says: str) -> None:
    """A clients file with a malformed origin is refused, naming the client and the entry."""
    with pytest.raises(ValueError, match=says):
        ClientDirectory.from_data({"clients": [{"id": "a", "key_sha256": [], "cors_origins": value}]})


def test_the_policy_allows_a_clients_own_origins_and_anyones_for_no_client() -> None:
    """An answer to a client is readable by its origins only; one to no client by any listed origin."""
    a = Client("a", "A", frozenset(), cors_origins=("https://a.example",))
    b = Client("b", "B", frozenset(), cors_origins=("https://b.example",))
    policy = CorsPolicy.for_clients([a, b])
    assert policy.allows("https://a.example", a) and not policy.allows("https://b.example", a)
    assert policy.allows("https://b.example", None) and not policy.allows("https://c.example", None)
    assert not policy.allows("null", None)
