"""gateway.security JWTs: bearer JWTs from the region's identity provider, checked against a real JWKS on loopback."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from gateway import Settings, build_app, build_transport
from gateway.http import JWT
from gateway.security import InvalidToken, JwtSettings, JwtVerifier, looks_like_jwt
from tests.fakes import KEY_A, FakeAdapter, directory, envelope

ISSUER = "https://sso.jabarprov.go.id/realms/mpp"
AUDIENCE = "mpp-gateway"
CLIENTS = directory().clients

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]
ClientFactory = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


@dataclasses.dataclass
class SigningKey:
    kid: str
    alg: str
    private: Any

    def jwk(self) -> dict[str, Any]:
        algorithm = jwt.get_algorithm_by_name(self.alg)
        data: dict[str, Any] = algorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**data, "kid": self.kid, "use": "sig", "alg": self.alg}

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        return jwt.encode(claims, self.private, algorithm=self.alg, headers={"kid": self.kid, **header})


@pytest.fixture(scope="module")
def keys() -> dict[str, SigningKey]:
    """One key per allowed algorithm, and a second RSA key the provider has not published (yet)."""
    return {
        "RS256": SigningKey("rsa-1", "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "ES256": SigningKey("ec-1", "ES256", ec.generate_private_key(ec.SECP256R1())),
        "EdDSA": SigningKey("ed-1", "EdDSA", ed25519.Ed25519PrivateKey.generate()),
        "next": SigningKey("rsa-2", "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    }


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300, "client_id": "counter-a"}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def forge(header: dict[str, Any], body: dict[str, Any], signature: bytes = b"") -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return ".".join([b64(orjson.dumps(header)), b64(orjson.dumps(body)), b64(signature)])


class IdentityProvider:
    """A JWKS endpoint whose keys, answer and speed a test controls; it counts the fetches."""

    def __init__(self, published: list[SigningKey]) -> None:
        self.published = published
        self.fetches = 0
        self.status = 200
        self.delay = 0.0
        #: Served instead of the key set when set.
        self.raw: bytes | None = None
        self.server: TestServer | None = None

    async def handle(self, _: web.Request) -> web.Response:
        self.fetches += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.status != 200:
            return web.Response(status=self.status, text="unavailable")
        if self.raw is not None:
            return web.Response(body=self.raw, content_type="application/json")
        return web.json_response({"keys": [k.jwk() for k in self.published]})

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/protocol/openid-connect/certs"))


@pytest.fixture
async def idp(aiohttp_server: ServerFactory, keys: dict[str, SigningKey]) -> IdentityProvider:
    """The provider on a loopback port, publishing the three algorithm keys."""
    provider = IdentityProvider([keys["RS256"], keys["ES256"], keys["EdDSA"]])
    app = web.Application()
    app.router.add_get("/protocol/openid-connect/certs", provider.handle)
    provider.server = await aiohttp_server(app)
    return provider


def jwt_settings(base: Settings, idp: IdentityProvider, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"jwt_issuer": ISSUER, "jwt_audience": AUDIENCE, "jwt_jwks_url": idp.url, **overrides}
    return dataclasses.replace(base, **values)


@pytest.fixture
async def jwt_gateway(
    aiohttp_client: ClientFactory, gateway_settings: Settings, fake_adapter: FakeAdapter, idp: IdentityProvider
) -> TestClient[Any, Any]:
    """A gateway accepting API keys and the provider's tokens, fetching keys over its real outbound transport."""
    app = build_app(
        jwt_settings(gateway_settings, idp), clients=directory(), factories={"fake": lambda context: fake_adapter}
    )
    return await aiohttp_client(app)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
async def test_valid_token_authenticates_the_client_it_names(
    jwt_gateway: TestClient[Any, Any], keys: dict[str, SigningKey], alg: str
) -> None:
    """A token signed with an allowed algorithm acts as the client it names, with that client's grants and MPP."""
    token = keys[alg].sign(claims())
    resp = await jwt_gateway.post("/v1/requests", json=envelope(), headers={**bearer(token), "Prefer": "wait=5"})
    assert resp.status == 200
    assert (await resp.json())["client_id"] == "counter-a"
    other_mpp = await jwt_gateway.post(
        "/v1/requests", json=envelope(counter={"mpp_id": "mpp-b", "desk": "d", "operator": "o"}), headers=bearer(token)
    )
    assert other_mpp.status == 403


async def test_api_keys_keep_working_beside_jwt(jwt_gateway: TestClient[Any, Any], idp: IdentityProvider) -> None:
    """With JWT configured, an API key still authenticates, without a call to the identity provider."""
    resp = await jwt_gateway.get("/v1/services", headers=bearer(KEY_A))
    assert resp.status == 200
    assert idp.fetches == 0


@pytest.mark.parametrize(
    ("claim_set", "client_id"),
    [
        ({"client_id": "kiosk", "azp": "counter-a", "sub": "counter-b"}, "kiosk"),
        ({"client_id": None, "azp": "counter-b", "sub": "counter-a"}, "counter-b"),
        ({"client_id": None, "sub": "counter-a"}, "counter-a"),
        ({"client_id": "", "azp": "kiosk"}, "kiosk"),
    ],
    ids=["client_id-first", "azp-second", "sub-last", "empty-client_id-skipped"],
)
async def test_client_id_claim_order(
    idp: IdentityProvider, keys: dict[str, SigningKey], claim_set: dict[str, Any], client_id: str
) -> None:
    """The client is named by client_id, else azp, else sub."""
    transport = build_transport()
    try:
        verifier = JwtVerifier(JwtSettings(ISSUER, AUDIENCE, jwks_url=idp.url), transport=transport)
        client = await verifier.client_for(keys["RS256"].sign(claims(**claim_set)), CLIENTS)
    finally:
        await transport.aclose()
    assert client.id == client_id


def _bad_tokens(keys: dict[str, SigningKey]) -> dict[str, str]:
    rsa_key = keys["RS256"]
    now = int(time.time())
    public_pem = rsa_key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hs_header = {"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}
    hs_input = forge(hs_header, claims()).rsplit(".", 1)[0]
    good = rsa_key.sign(claims())
    head, body, sig = good.split(".")
    tampered_body = forge({}, claims(client_id="counter-b")).split(".")[1]
    return {
        "expired": rsa_key.sign(claims(exp=now - 120)),
        "not-yet-valid": rsa_key.sign(claims(nbf=now + 120)),
        "issued-in-the-future": rsa_key.sign(claims(iat=now + 600)),
        "wrong-audience": rsa_key.sign(claims(aud="another-app")),
        "wrong-issuer": rsa_key.sign(claims(iss="https://evil.example/realms/mpp")),
        "no-exp": rsa_key.sign(claims(exp=None)),
        "no-aud": rsa_key.sign(claims(aud=None)),
        "unknown-kid": keys["next"].sign(claims()),
        "unknown-client": rsa_key.sign(claims(client_id="no-such-client")),
        "no-client-claim": rsa_key.sign(claims(client_id=None)),
        "other-key-same-kid": SigningKey("rsa-1", "RS256", keys["next"].private).sign(claims()),
        "tampered-payload": f"{head}.{tampered_body}.{sig}",
        "alg-none": forge({"alg": "none", "kid": "rsa-1"}, claims()),
        "hs256-with-public-key": hs_input
        + "."
        + base64.urlsafe_b64encode(hmac.new(public_pem, hs_input.encode(), hashlib.sha256).digest())
        .rstrip(b"=")
        .decode(),
        "alg-not-allowed": jwt.encode(claims(), rsa_key.private, algorithm="RS384", headers={"kid": "rsa-1"}),
        "alg-of-another-key": jwt.encode(claims(), rsa_key.private, algorithm="RS256", headers={"kid": "ec-1"}),
        "kid-not-a-string": forge({"alg": "RS256", "kid": 7}, claims(), b"x"),
        "garbage": "abc.def.ghi",
        "header-not-json": "bm90IGpzb24." + body + "." + sig,
    }


BAD_TOKEN_CASES = [
    "expired",
    "not-yet-valid",
    "issued-in-the-future",
    "wrong-audience",
    "wrong-issuer",
    "no-exp",
    "no-aud",
    "unknown-kid",
    "unknown-client",
    "no-client-claim",
    "other-key-same-kid",
    "tampered-payload",
    "alg-none",
    "hs256-with-public-key",
    "alg-not-allowed",
    "alg-of-another-key",
    "kid-not-a-string",
    "garbage",
    "header-not-json",
]


@pytest.mark.parametrize("case", BAD_TOKEN_CASES)
async def test_bad_token_answers_401_invalid_token_without_echoing_it(
    jwt_gateway: TestClient[Any, Any], keys: dict[str, SigningKey], case: str
) -> None:
    """Every kind of bad token is a 401 problem with an invalid_token challenge; nothing of the token comes back."""
    token = _bad_tokens(keys)[case]
    assert looks_like_jwt(token)
    resp = await jwt_gateway.get("/v1/services", headers=bearer(token))
    assert resp.status == 401
    assert resp.content_type == "application/problem+json"
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
    problem = await resp.json()
    assert problem["type"] == "/problems/unauthorized"
    text = await resp.text()
    for part in token.split("."):
        assert len(part) < 4 or part not in text


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("expired", "expired"),
        ("wrong-audience", "audience"),
        ("wrong-issuer", "issuer"),
        ("unknown-kid", "signing key is unknown"),
        ("unknown-client", "not registered"),
        ("alg-none", "algorithm is not accepted"),
        ("other-key-same-kid", "signature"),
    ],
)
async def test_bad_token_detail_says_why(
    jwt_gateway: TestClient[Any, Any], keys: dict[str, SigningKey], case: str, reason: str
) -> None:
    """The problem detail names the reason the token was refused."""
    resp = await jwt_gateway.get("/v1/services", headers=bearer(_bad_tokens(keys)[case]))
    assert reason in (await resp.json())["detail"]


async def test_expiry_within_leeway_is_accepted(jwt_gateway: TestClient[Any, Any], keys: dict[str, SigningKey]) -> None:
    """A token that expired a few seconds ago, within the leeway for clock skew, still authenticates."""
    token = keys["ES256"].sign(claims(exp=int(time.time()) - 10))
    assert (await jwt_gateway.get("/v1/services", headers=bearer(token))).status == 200


async def test_provider_key_rotation_is_followed(
    aiohttp_client: ClientFactory,
    gateway_settings: Settings,
    fake_adapter: FakeAdapter,
    idp: IdentityProvider,
    keys: dict[str, SigningKey],
) -> None:
    """A token signed by a key the provider published after the last fetch is accepted after one refetch."""
    settings = jwt_settings(gateway_settings, idp, jwt_jwks_refresh_seconds=0.0)
    gateway = await aiohttp_client(
        build_app(settings, clients=directory(), factories={"fake": lambda context: fake_adapter})
    )
    assert (await gateway.get("/v1/services", headers=bearer(keys["RS256"].sign(claims())))).status == 200
    assert idp.fetches == 1
    idp.published.append(keys["next"])
    assert (await gateway.get("/v1/services", headers=bearer(keys["next"].sign(claims())))).status == 200
    assert idp.fetches == 2
    assert (await gateway.get("/v1/services", headers=bearer(keys["next"].sign(claims())))).status == 200
    assert idp.fetches == 2


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_unknown_kid_refetches_at_most_once_per_interval(
    idp: IdentityProvider, keys: dict[str, SigningKey]
) -> None:
    """A stream of unknown kids fetches the key set once per refresh interval, not once per token."""
    clock = Clock()
    transport = build_transport()
    try:
        verifier = JwtVerifier(
            JwtSettings(ISSUER, AUDIENCE, jwks_url=idp.url, refresh_seconds=60), transport=transport, clock=clock
        )
        for number in range(5):
            forged = SigningKey(f"forged-{number}", "RS256", keys["next"].private).sign(claims())
            with pytest.raises(InvalidToken, match="signing key is unknown"):
                await verifier.client_for(forged, CLIENTS)
        assert idp.fetches == 1
        clock.now += 61
        idp.published.append(keys["next"])
        assert (await verifier.client_for(keys["next"].sign(claims()), CLIENTS)).id == "counter-a"
        assert idp.fetches == 2
    finally:
        await transport.aclose()


async def test_withdrawn_key_stops_working_after_max_age(idp: IdentityProvider, keys: dict[str, SigningKey]) -> None:
    """Keys are fetched again once older than the maximum age, so a key the provider withdrew is refused."""
    clock = Clock()
    transport = build_transport()
    try:
        verifier = JwtVerifier(
            JwtSettings(ISSUER, AUDIENCE, jwks_url=idp.url, max_age_seconds=300), transport=transport, clock=clock
        )
        token = keys["EdDSA"].sign(claims())
        assert (await verifier.client_for(token, CLIENTS)).id == "counter-a"
        idp.published.remove(keys["EdDSA"])
        clock.now += 200
        assert (await verifier.client_for(token, CLIENTS)).id == "counter-a"
        clock.now += 101
        with pytest.raises(InvalidToken, match="signing key is unknown"):
            await verifier.client_for(token, CLIENTS)
        assert idp.fetches == 2
    finally:
        await transport.aclose()


async def test_a_passed_token_is_remembered_at_most_a_minute_and_never_past_exp(
    tmp_path: Path, keys: dict[str, SigningKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same token is checked once per minute at most, again once its exp (plus leeway) has passed."""
    path = tmp_path / "jwks.json"
    path.write_bytes(orjson.dumps({"keys": [keys["ES256"].jwk()]}))
    clock, wall = Clock(), time.time()
    verifier = JwtVerifier(
        JwtSettings(ISSUER, AUDIENCE, jwks_file=str(path), leeway_seconds=5), clock=clock, wall_clock=lambda: wall
    )
    checks = []
    real_decode = jwt.decode
    monkeypatch.setattr(jwt, "decode", lambda *a, **kw: checks.append(1) or real_decode(*a, **kw))
    long_lived = keys["ES256"].sign(claims())
    short_claims = claims(exp=int(time.time()) + 300)
    short_lived = keys["ES256"].sign(short_claims)
    assert (await verifier.client_for(long_lived, CLIENTS)).id == "counter-a"
    clock.now += 59
    assert (await verifier.client_for(long_lived, CLIENTS)).id == "counter-a"
    assert len(checks) == 1
    clock.now += 2
    await verifier.client_for(long_lived, CLIENTS)
    assert len(checks) == 2
    # exp 20 s after the wall clock: remembered for exp + leeway - now = 25 s only
    wall = short_claims["exp"] - 20.0
    await verifier.client_for(short_lived, CLIENTS)
    clock.now += 24
    await verifier.client_for(short_lived, CLIENTS)
    assert len(checks) == 3
    clock.now += 2
    await verifier.client_for(short_lived, CLIENTS)
    assert len(checks) == 4


async def test_a_new_key_set_forgets_remembered_tokens(idp: IdentityProvider, keys: dict[str, SigningKey]) -> None:
    """Once the provider's set is fetched again without the key, a token remembered under it is refused."""
    clock = Clock()
    transport = build_transport()
    try:
        verifier = JwtVerifier(
            JwtSettings(ISSUER, AUDIENCE, jwks_url=idp.url, refresh_seconds=10), transport=transport, clock=clock
        )
        token = keys["RS256"].sign(claims())
        assert (await verifier.client_for(token, CLIENTS)).id == "counter-a"
        idp.published.remove(keys["RS256"])
        clock.now += 11
        with pytest.raises(InvalidToken, match="signing key is unknown"):
            await verifier.client_for(keys["next"].sign(claims()), CLIENTS)  # an unknown kid fetches the set
        with pytest.raises(InvalidToken, match="signing key is unknown"):
            await verifier.client_for(token, CLIENTS)
    finally:
        await transport.aclose()


async def test_concurrent_tokens_share_one_fetch_and_the_loop_keeps_serving(
    jwt_gateway: TestClient[Any, Any], idp: IdentityProvider, keys: dict[str, SigningKey]
) -> None:
    """Tokens arriving while the key set is fetched wait for one fetch; meanwhile other calls are answered."""
    idp.delay = 0.3
    token = keys["RS256"].sign(claims())
    calls = [asyncio.ensure_future(jwt_gateway.get("/v1/services", headers=bearer(token))) for _ in range(8)]
    await asyncio.sleep(0.05)
    started = time.monotonic()
    health = await jwt_gateway.get("/healthz")
    assert health.status == 200
    assert time.monotonic() - started < 0.2
    assert [r.status for r in await asyncio.gather(*calls)] == [200] * 8
    assert idp.fetches == 1


@pytest.mark.parametrize("failure", ["http-500", "not-json", "no-keys-list", "no-usable-key", "unreachable"])
async def test_unavailable_key_set_refuses_tokens_with_401_and_logs(
    idp: IdentityProvider, keys: dict[str, SigningKey], failure: str
) -> None:
    """When the key set cannot be fetched or used, tokens get 401 (never 5xx) and the failure is logged."""
    transport = build_transport()
    url = idp.url
    if failure == "http-500":
        idp.status = 500
    elif failure == "not-json":
        idp.raw = b"<html>login</html>"
    elif failure == "no-keys-list":
        idp.raw = b'{"keys": {"kid": "rsa-1"}}'
    elif failure == "no-usable-key":
        idp.raw = b'{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "rsa-1"}]}'
    elif failure == "unreachable":
        assert idp.server is not None
        url = f"http://127.0.0.1:{idp.server.port}/nothing-here"
        await idp.server.close()
    try:
        verifier = JwtVerifier(JwtSettings(ISSUER, AUDIENCE, jwks_url=url, timeout_seconds=1), transport=transport)
        with capture_logs() as logs, pytest.raises(InvalidToken, match="signing key is unknown"):
            await verifier.client_for(keys["RS256"].sign(claims()), CLIENTS)
    finally:
        await transport.aclose()
    assert [e["event"] for e in logs] == ["jwt.jwks_fetch_failed"]


async def test_offline_key_set_file(tmp_path: Path, keys: dict[str, SigningKey]) -> None:
    """MPP_JWT_JWKS_FILE alone authenticates tokens without any network; unusable entries in it are skipped."""
    path = tmp_path / "jwks.json"
    entries = [
        keys["ES256"].jwk(),
        {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac", "alg": "HS256"},
        {**keys["RS256"].jwk(), "use": "enc"},
        {"kty": "nonsense", "kid": "x"},
    ]
    path.write_bytes(orjson.dumps({"keys": entries}))
    settings = JwtSettings.from_settings(Settings(jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwt_jwks_file=str(path)))
    assert settings is not None
    verifier = JwtVerifier(settings)
    assert (await verifier.client_for(keys["ES256"].sign(claims()), CLIENTS)).id == "counter-a"
    with pytest.raises(InvalidToken, match="signing key is unknown"):
        await verifier.client_for(keys["RS256"].sign(claims()), CLIENTS)
    hs = forge({"alg": "HS256", "kid": "hmac"}, claims(), b"sig")
    with pytest.raises(InvalidToken, match="algorithm is not accepted"):
        await verifier.client_for(hs, CLIENTS)


async def test_gateway_reads_jwt_settings_from_the_environment(
    gateway_settings: Settings, tmp_path: Path, keys: dict[str, SigningKey], aiohttp_client: ClientFactory
) -> None:
    """MPP_JWT_* variables configure the verifier the app uses."""
    path = tmp_path / "jwks.json"
    path.write_bytes(orjson.dumps({"keys": [keys["EdDSA"].jwk()]}))
    env = {
        "MPP_JWT_ISSUER": ISSUER,
        "MPP_JWT_AUDIENCE": AUDIENCE,
        "MPP_JWT_JWKS_FILE": str(path),
        "MPP_JWT_LEEWAY_SECONDS": "5",
        "MPP_JWT_ALGORITHMS": "EdDSA",
    }
    from_env = Settings.from_env(env)
    fields = [f.name for f in dataclasses.fields(Settings) if f.name.startswith("jwt_")]
    settings = dataclasses.replace(gateway_settings, **{name: getattr(from_env, name) for name in fields})
    app = build_app(settings, clients=directory(), factories={"fake": lambda context: FakeAdapter()})
    assert app[JWT].config.leeway_seconds == 5 and app[JWT].config.algorithms == {"EdDSA"}
    client = await aiohttp_client(app)
    assert (await client.get("/v1/services", headers=bearer(keys["EdDSA"].sign(claims())))).status == 200
    assert (await client.get("/v1/services", headers=bearer(keys["ES256"].sign(claims())))).status == 401


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"jwt_issuer": None}, "MPP_JWT_ISSUER"),
        ({"jwt_audience": None}, "MPP_JWT_AUDIENCE"),
        ({"jwt_jwks_url": None}, "MPP_JWT_JWKS_URL"),
        ({"jwt_algorithms": "RS256,HS256"}, "asymmetric"),
        ({"jwt_algorithms": "none"}, "asymmetric"),
        ({"jwt_algorithms": " , "}, "asymmetric"),
        ({"jwt_jwks_url": "http://sso.example/certs"}, "https"),
        ({"jwt_jwks_url": "ftp://127.0.0.1/certs"}, "https"),
    ],
    ids=["no-issuer", "no-audience", "no-key-set", "hs256", "none", "empty", "plain-http", "ftp"],
)
def test_unsafe_or_incomplete_settings_refuse_to_start(overrides: dict[str, str | None], message: str) -> None:
    """JWT settings that are incomplete or would accept forgeable tokens stop the gateway from starting."""
    values = {"jwt_issuer": ISSUER, "jwt_audience": AUDIENCE, "jwt_jwks_url": "https://sso.example/certs", **overrides}
    with pytest.raises(ValueError, match=message):
        JwtSettings.from_settings(Settings(**values))  # type: ignore[arg-type]


def test_loopback_http_key_set_is_allowed_and_jwt_is_off_by_default() -> None:
    """Plain http is accepted for a loopback key set (a local sidecar); with no MPP_JWT_* set, JWT is off."""
    assert JwtSettings.from_settings(Settings()) is None
    for url in ("http://127.0.0.1:8443/certs", "http://localhost/certs", "http://[::1]/certs"):
        assert JwtSettings(ISSUER, AUDIENCE, jwks_url=url).jwks_url == url


@pytest.fixture(scope="module")
def offline_verifier(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, SigningKey]) -> JwtVerifier:
    """A verifier with one key from a file: no network, so any number of examples run quickly."""
    path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    path.write_bytes(orjson.dumps({"keys": [keys["ES256"].jwk()]}))
    return JwtVerifier(JwtSettings(ISSUER, AUDIENCE, jwks_file=str(path)))


@settings(max_examples=200, deadline=None)
@given(token=st.lists(st.text(max_size=40), min_size=3, max_size=3).map(".".join))
def test_any_three_part_string_is_refused_cleanly(offline_verifier: JwtVerifier, token: str) -> None:
    """Whatever three dot-separated parts arrive, the verifier refuses with InvalidToken and nothing else."""
    with pytest.raises(InvalidToken):
        asyncio.run(offline_verifier.client_for(token, CLIENTS))


async def test_jwks_fetch_uses_the_injected_transport(keys: dict[str, SigningKey]) -> None:
    """The key set is fetched through the outbound transport handed in by the composition root."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"keys": [keys["ES256"].jwk()]})

    verifier = JwtVerifier(
        JwtSettings(ISSUER, AUDIENCE, jwks_url="https://sso.example/certs"), transport=httpx.MockTransport(handler)
    )
    assert (await verifier.client_for(keys["ES256"].sign(claims()), CLIENTS)).id == "counter-a"
    assert seen == ["https://sso.example/certs"]
    assert verifier.fetches == 1
