"""The adapter against the BPJS Kesehatan mock over real sockets, through the gateway's outbound transport."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator, Callable, Mapping

import httpx
import pytest

from adapters import (
    AdapterContext,
    AgencyHttp,
    AgencyMisconfigured,
    AgencyRejected,
    Call,
    Completed,
    TransientAgencyError,
)
from adapters.bpjs_kesehatan import BpjsKesehatanAdapter, ByCardPayload, ByNikPayload, Participant
from gateway import build_transport
from mocks import Citizen, MockAgency, MockCluster, Population, Status, start_mocks

from ._support import assert_no_secrets, make_call

BY_NIK = "bpjs-kesehatan.peserta.by-nik"
BY_CARD = "bpjs-kesehatan.peserta.by-card"
SERVICE_DATE = dt.date(2026, 1, 5)


@pytest.fixture(scope="module")
def population() -> Population:
    """A small population: every status occurs from 20 people on."""
    return Population.generate(seed=2026, size=60)


@pytest.fixture
async def cluster(population: Population) -> AsyncIterator[MockCluster]:
    """The BPJS Kesehatan mock alone, on a free loopback port."""
    async with await start_mocks("127.0.0.1", {"bpjs-kesehatan": 0}, population=population) as running:
        yield running


@pytest.fixture
def agency(cluster: MockCluster) -> MockAgency:
    """The running mock and the settings it issued."""
    return cluster.agencies["bpjs-kesehatan"]


@pytest.fixture
async def transport() -> AsyncIterator[httpx.AsyncBaseTransport]:
    """The gateway's real outbound transport (httpx types over aiohttp's pool)."""
    built = build_transport(limit=8)
    yield built
    await built.aclose()


AdapterFactory = Callable[..., BpjsKesehatanAdapter]


@pytest.fixture
def make_adapter(agency: MockAgency, transport: httpx.AsyncBaseTransport) -> AdapterFactory:
    """Build the adapter as the gateway would from the mock's settings, with overrides and a clock offset."""

    def build(overrides: Mapping[str, str] | None = None, skew: dt.timedelta = dt.timedelta()) -> BpjsKesehatanAdapter:
        settings = {**agency.settings, **(overrides or {})}
        http = AgencyHttp(transport, agency="bpjs-kesehatan", base_url=settings["base_url"], timeout=3)
        return BpjsKesehatanAdapter(
            AdapterContext(http=http, settings=settings, clock=lambda: dt.datetime.now(dt.UTC) + skew)
        )

    return build


def _by_nik(citizen: Citizen) -> Call:
    return make_call(ByNikPayload(service_date=SERVICE_DATE), service=BY_NIK, nik=citizen.nik)


def _person(population: Population, status: Status = "active") -> Citizen:
    return population.sample(status, limit=1)[0]


def test_the_settings_point_at_vclaim(agency: MockAgency) -> None:
    """The mock issues exactly the adapter's settings, its base_url ending in the VClaim base path."""
    assert set(agency.settings) == {"base_url", "cons_id", "consumer_secret", "user_key"}
    assert agency.settings["base_url"] == agency.base_url + "/vclaim-rest"


async def test_found_by_nik(make_adapter: AdapterFactory, agency: MockAgency, population: Population) -> None:
    """An active citizen's NIK lookup completes with their card, name and an active status."""
    citizen = _person(population)
    outcome = await make_adapter().execute(_by_nik(citizen))
    assert isinstance(outcome, Completed)
    result = outcome.result
    assert isinstance(result, Participant)
    assert (result.nik, result.card_number, result.name) == (citizen.nik, citizen.no_kartu, citizen.full_name)
    assert result.birth_date == citizen.birth_date
    assert result.status.active is True
    assert result.care_class.code == str(citizen.bpjs_class)
    assert outcome.agency_reference == citizen.no_kartu
    assert agency.control.deliveries.count("Peserta/nik") == 1


async def test_found_by_card(make_adapter: AdapterFactory, agency: MockAgency, population: Population) -> None:
    """A card lookup finds the card's holder, whoever the applicant is."""
    citizen = population.sample("active", limit=3)[2]
    call = make_call(
        ByCardPayload(card_number=citizen.no_kartu, service_date=SERVICE_DATE), service=BY_CARD, nik="3201014708900001"
    )
    outcome = await make_adapter().execute(call)
    assert isinstance(outcome, Completed)
    assert isinstance(outcome.result, Participant)
    assert outcome.result.nik == citizen.nik
    assert agency.control.deliveries.count("Peserta/nokartu") == 1


@pytest.mark.parametrize("status", ["deceased", "inactive"])
async def test_deceased_and_inactive_complete_inactive(
    make_adapter: AdapterFactory, population: Population, status: Status
) -> None:
    """Deceased and lapsed participants are answers: completed, status.active false; a lapsed one has no provider."""
    outcome = await make_adapter().execute(_by_nik(_person(population, status)))
    assert isinstance(outcome, Completed)
    assert isinstance(outcome.result, Participant)
    assert outcome.result.status.active is False
    assert outcome.result.status.description == {"deceased": "MENINGGAL", "inactive": "NON AKTIF KARNA PREMI"}[status]
    assert (outcome.result.primary_care_provider is None) is (status == "inactive")


@pytest.mark.parametrize("kind", ["unknown-nik", "newborn-placeholder", "unknown-card"])
async def test_not_found_is_rejected(make_adapter: AdapterFactory, population: Population, kind: str) -> None:
    """An unknown NIK, the newborn placeholder NIK, or an unknown card ends rejected as participant-not-found."""
    if kind == "unknown-card":
        call = make_call(ByCardPayload(card_number="9" * 13, service_date=SERVICE_DATE), service=BY_CARD)
    else:
        nik = population.unknown_nik() if kind == "unknown-nik" else "0" * 16
        call = make_call(ByNikPayload(service_date=SERVICE_DATE), service=BY_NIK, nik=nik)
    with pytest.raises(AgencyRejected) as caught:
        await make_adapter().execute(call)
    assert (caught.value.code, caught.value.slug) == ("201", "bpjs-participant-not-found")


MISCONFIGURED = [
    pytest.param({"consumer_secret": "not-the-secret"}, dt.timedelta(), "401", id="wrong-secret"),
    pytest.param({"cons_id": "99999"}, dt.timedelta(), "401", id="wrong-cons-id"),
    pytest.param({"user_key": "0" * 32}, dt.timedelta(), "403", id="wrong-user-key"),
    pytest.param({}, dt.timedelta(minutes=10), "408", id="clock-10-minutes-ahead"),
    pytest.param({}, dt.timedelta(minutes=-10), "408", id="clock-10-minutes-behind"),
]


@pytest.mark.parametrize(("overrides", "skew", "code"), MISCONFIGURED)
async def test_credentials_and_clock_problems_are_misconfigured(
    make_adapter: AdapterFactory,
    population: Population,
    overrides: dict[str, str],
    skew: dt.timedelta,
    code: str,
) -> None:
    """A wrong secret, consumer id or user key, or a clock 10 minutes off, is misconfigured, naming no secret."""
    with pytest.raises(AgencyMisconfigured) as caught:
        await make_adapter(overrides, skew).execute(_by_nik(_person(population)))
    assert caught.value.code == code
    assert_no_secrets(caught.value, *overrides.values())


async def test_a_clock_within_the_window_still_works(make_adapter: AdapterFactory, population: Population) -> None:
    """A clock four minutes off is within the mock's window, and the reply still decrypts with its timestamp."""
    outcome = await make_adapter(skew=dt.timedelta(minutes=4)).execute(_by_nik(_person(population)))
    assert isinstance(outcome, Completed)


@pytest.mark.parametrize("fault", ["html_rate", "malformed_rate", "error_rate", "rate_limit_rate"])
async def test_faults_are_transient_then_recover(
    make_adapter: AdapterFactory, agency: MockAgency, population: Population, fault: str
) -> None:
    """An HTML page, a truncated body, a 5xx or a 429 is transient; with the fault gone the next call succeeds."""
    adapter = make_adapter()
    agency.control.faults.configure({fault: 1.0})
    started = time.monotonic()
    with pytest.raises(TransientAgencyError) as caught:
        await adapter.execute(_by_nik(_person(population)))
    assert time.monotonic() - started < 2
    assert caught.value.sent is True
    assert_no_secrets(caught.value)
    agency.control.reset()
    assert isinstance(await adapter.execute(_by_nik(_person(population))), Completed)


async def test_the_dev_base_path_answers_the_same(
    make_adapter: AdapterFactory, agency: MockAgency, population: Population
) -> None:
    """Pointing base_url at /vclaim-rest-dev is the only change needed for the development environment."""
    adapter = make_adapter({"base_url": agency.base_url + "/vclaim-rest-dev"})
    assert isinstance(await adapter.execute(_by_nik(_person(population))), Completed)


async def test_a_wrong_base_path_is_misconfigured(
    make_adapter: AdapterFactory, agency: MockAgency, population: Population
) -> None:
    """A base URL without the service's base path meets the gateway's HTML 404: misconfigured."""
    adapter = make_adapter({"base_url": agency.base_url + "/antreanrs"})
    with pytest.raises(AgencyMisconfigured, match="base URL"):
        await adapter.execute(_by_nik(_person(population)))
