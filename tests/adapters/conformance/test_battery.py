"""adapters.conformance.run_hostile_battery: a careful adapter passes; each flaw is caught, over real sockets."""

from __future__ import annotations

import dataclasses
import time

import pytest

from adapters.conformance import SCENARIOS, ConformanceFailure, HostileAgency, SampleCall, run_hostile_battery

from ._support import assert_conformant
from .kit_fake import CHECK, Flaws
from .kit_fake.conformance import API_KEY, NIK, SAMPLES, profile

# Short, so the kit's own tests stay fast; long enough for loopback to answer every fixed scenario well within it.
TIMEOUT = 0.3
SERVICE = CHECK.id


async def test_the_reference_adapter_passes_every_scenario_at_once() -> None:
    """A careful adapter passes all scenarios, run concurrently: the battery takes about one timeout, not fifteen."""
    two_samples = (*SAMPLES, SampleCall(SERVICE, NIK, {"name": "chair"}))
    started = time.monotonic()
    report = await run_hostile_battery(profile(samples=two_samples), timeout=TIMEOUT)
    assert time.monotonic() - started < 4 * TIMEOUT + 1.0
    assert {(o.scenario, o.service) for o in report.outcomes} == {(s.name, SERVICE) for s in SCENARIOS} - {
        (name, SERVICE) for name, _ in report.unavailable
    }
    assert len(report.outcomes) == 2 * (len(SCENARIOS) - len(report.unavailable))
    assert all(o.raised == "adapters._errors.TransientAgencyError" for o in report.outcomes)
    assert_conformant(report)


@pytest.mark.parametrize(
    ("flaws", "scenarios", "expected"),
    [
        (
            Flaws(own_client=True),
            ("connection-refused", "reset-mid-body", "truncated-json", "read-timeout"),
            {("battery.class", f"{name} {SERVICE}") for name in
             ("connection-refused", "reset-mid-body", "truncated-json", "read-timeout")},
        ),
        (Flaws(swallows_errors=True), ("http-500",), {("battery.class", f"http-500 {SERVICE}")}),
        (Flaws(rejects_5xx=True), ("http-502",), {("battery.class", f"http-502 {SERVICE}")}),
        (
            Flaws(says_never_sent=True),
            ("read-timeout", "reset-mid-body", "http-500"),
            {("battery.sent", f"read-timeout {SERVICE}"), ("battery.sent", f"reset-mid-body {SERVICE}")},
        ),
        (Flaws(drops_retry_after=True), ("http-503-retry-after", "http-429"),
         {("battery.retry-after", f"http-503-retry-after {SERVICE}")}),
        (Flaws(wrong_agency=True), ("http-500",), {("battery.agency", f"http-500 {SERVICE}")}),
        (Flaws(slow_to_fail=True), ("oversized-body",), {("battery.prompt", f"oversized-body {SERVICE}")}),
        (Flaws(ignores_timeout=True), ("http-500",), {("battery.hang", f"http-500 {SERVICE}")}),
    ],
    ids=["own-http-client", "swallows-errors", "rejects-outage", "says-never-sent", "drops-retry-after",
         "wrong-agency", "slow-to-fail", "ignores-timeout"],
)
async def test_each_flaw_is_caught(flaws: Flaws, scenarios: tuple[str, ...], expected: set[tuple[str, str]]) -> None:
    """An adapter with one flaw fails exactly the scenarios that flaw breaks, under the rule that names it."""
    report = await run_hostile_battery(profile(flaws), timeout=TIMEOUT, scenarios=scenarios)
    assert {(f.check, f.subject) for f in report.failures} == expected
    with pytest.raises(ConformanceFailure, match="kit-fake fails the conformance hostile-battery"):
        report.assert_ok()


async def test_an_escaping_httpx_error_is_named_as_foreign() -> None:
    """An httpx exception that escapes is reported by its class, as a foreign exception to translate."""
    broken = profile(Flaws(own_client=True))
    report = await run_hostile_battery(broken, timeout=TIMEOUT, scenarios=["connection-refused"])
    (failure,) = report.failures
    assert failure.detail.startswith("raised httpx.ConnectError") and "foreign exception" in failure.detail
    assert report.outcomes[0].raised == "httpx.ConnectError"


@pytest.mark.parametrize(
    ("leak", "subject"),
    [
        ("error", f"http-500 {SERVICE}"),
        ("chain", f"plain-text-200 {SERVICE}"),
        ("repr", "repr(adapter)"),
        ("stdlib-log", "logs"),
        ("structlog", "logs"),
    ],
)
async def test_a_leaked_secret_is_caught_wherever_it_shows(leak: str, subject: str) -> None:
    """The API key in a message, an exception's cause, the repr or a log line fails, and the report hides it."""
    report = await run_hostile_battery(
        profile(Flaws(leak=leak)), timeout=TIMEOUT, scenarios=("http-500", "plain-text-200")  # type: ignore[arg-type]
    )
    assert {(f.check, f.subject) for f in report.failures} == {("battery.secret-leak", subject)}
    assert "'api_key'" in report.failures[0].detail
    assert API_KEY not in str(report)


async def test_a_factory_that_fails_is_reported() -> None:
    """An adapter that cannot be built with the profile's settings fails instead of crashing the battery."""
    broken = profile(settings={"base_url": "http://x.test/"})
    report = await run_hostile_battery(broken, timeout=TIMEOUT, scenarios=("http-500",))
    assert report.checks() == {"battery.factory"}


async def test_invalid_samples_leave_nothing_to_run() -> None:
    """A sample whose payload the service refuses is reported, and with no valid sample nothing is sent."""
    broken = profile(samples=(dataclasses.replace(SAMPLES[0], payload={"name": ""}),))
    report = await run_hostile_battery(broken, timeout=TIMEOUT, scenarios=("http-500",))
    assert [(f.check, f.subject) for f in report.failures] == [
        ("battery.sample", f"sample 1 ({SERVICE})"),
        ("battery.sample", "samples"),
    ]
    assert report.outcomes == ()


async def test_unknown_scenarios_are_refused() -> None:
    """Naming a scenario that does not exist is the caller's mistake, raised at once."""
    with pytest.raises(ValueError, match="unknown scenarios: http-999"):
        await run_hostile_battery(profile(), scenarios=("http-500", "http-999"))


async def test_a_scenario_the_machine_cannot_stage_is_reported_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the kernel will not blackhole a handshake, connect-timeout is listed as unavailable, with the reason."""

    async def no_blackhole(self: HostileAgency) -> tuple[int, str | None]:
        return 0, "this system completes TCP handshakes past a full accept queue"

    monkeypatch.setattr(HostileAgency, "_blackhole_port", no_blackhole)
    report = await run_hostile_battery(profile(), timeout=TIMEOUT, scenarios=("connect-timeout", "http-500"))
    assert report.ok
    assert report.unavailable == (("connect-timeout", "this system completes TCP handshakes past a full accept queue"),)
    assert [o.scenario for o in report.outcomes] == ["http-500"]


async def test_the_connect_timeout_scenario_really_hangs_the_handshake() -> None:
    """On this machine the blackhole works: the call ends by timing out, not by a refusal."""
    report = await run_hostile_battery(profile(), timeout=TIMEOUT, scenarios=("connect-timeout",))
    if report.unavailable:
        pytest.skip(report.unavailable[0][1])
    (outcome,) = report.outcomes
    assert outcome.elapsed >= TIMEOUT * 0.9
