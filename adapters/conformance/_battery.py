"""The hostile battery: every sample call against every scenario, over real loopback sockets, all at once.

Each scenario gets its own adapter, built with the profile's factory exactly as the composition root builds it:
an :class:`~adapters.AgencyHttp` over a real ``httpx-aiohttp`` transport, a short timeout and a 1 MiB body limit.
The calls run concurrently, so the battery takes about one timeout however many scenarios and samples there are.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from pydantic import ValidationError

from .._base import Adapter, Call, Service
from .._errors import MppError, TransientAgencyError
from .._http import AgencyHttp, AgencyTransport
from ._build import base_path, build_adapter, make_call, offline_http, secret_values, validation_summary
from ._capture import CapturedLogs
from ._profile import ConformanceProfile
from ._report import BatteryReport, Failure, ScenarioOutcome
from ._scenarios import PROMPT_FRACTION, SCENARIOS, HostileAgency, Scenario

__all__ = ["BATTERY_MAX_BODY", "DEFAULT_TIMEOUT", "run_hostile_battery"]

DEFAULT_TIMEOUT = 1.0
"""The agency timeout the battery gives each adapter, in seconds."""

BATTERY_MAX_BODY = 1024 * 1024
"""The body limit the battery gives each adapter's :class:`~adapters.AgencyHttp`."""


@dataclasses.dataclass(frozen=True)
class _Run:
    scenario: Scenario
    call: Call
    error: Exception | None
    returned: str | None
    elapsed: float
    hung: bool


async def run_hostile_battery(
    profile: ConformanceProfile,
    *,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - the agency timeout under test, not a bound on this call
    scenarios: Iterable[str] | None = None,
) -> BatteryReport:
    """Run every sample of ``profile`` against every scenario (or the named ones) and report what went wrong.

    Every call must raise :class:`~adapters.TransientAgencyError` with the scenario's ``sent`` and
    ``retry_after``, carrying the adapter's agency; no secret setting may appear in an exception, in the adapter's
    repr, or in any log line written meanwhile.
    """
    started = time.monotonic()
    chosen = _select(scenarios)
    failures: list[Failure] = []
    try:
        probe = build_adapter(profile, offline_http("conformance", profile))
        agency = probe.agency
        services = {service.id: service for service in probe.services()}
        await probe.aclose()
    except Exception as exc:
        failure = Failure("battery.factory", "factory", f"building the adapter raised {type(exc).__name__}")
        return BatteryReport("hostile-battery", "", (failure,), elapsed=time.monotonic() - started)
    calls = _calls(profile, services, failures)
    secrets = secret_values(profile)
    staged = _Staged()
    if calls:
        with CapturedLogs() as logs:
            await _stage_and_run(staged, profile, agency, chosen, calls, timeout)
        failures += staged.failures
        failures += _leaks_in_logs(logs.lines, secrets)
        failures += _leaks_in_reprs(staged.reprs, secrets)
    for run in staged.runs:
        failures += _judge(run, agency, timeout, secrets)
    return BatteryReport(
        "hostile-battery",
        agency,
        tuple(failures),
        outcomes=tuple(_outcome(run) for run in staged.runs),
        unavailable=tuple(sorted(staged.unavailable.items())),
        elapsed=time.monotonic() - started,
    )


def _select(names: Iterable[str] | None) -> tuple[Scenario, ...]:
    if names is None:
        return SCENARIOS
    wanted = set(names)
    if unknown := wanted - {scenario.name for scenario in SCENARIOS}:
        raise ValueError(f"unknown scenarios: {', '.join(sorted(unknown))}")
    return tuple(scenario for scenario in SCENARIOS if scenario.name in wanted)


def _calls(
    profile: ConformanceProfile, services: Mapping[str, Service[Any, Any]], failures: list[Failure]
) -> list[Call]:
    calls = []
    for number, sample in enumerate(profile.samples, 1):
        service = services.get(sample.service)
        subject = f"sample {number} ({sample.service})"
        if service is None:
            failures.append(Failure("battery.sample", subject, "names a service the adapter does not offer"))
            continue
        try:
            calls.append(make_call(sample, service, number))
        except ValidationError as exc:
            failures.append(Failure("battery.sample", subject, f"payload invalid: {validation_summary(exc)}"))
    if not calls:
        failures.append(Failure("battery.sample", "samples", "no valid sample call to run"))
    return calls


@dataclasses.dataclass
class _Staged:
    runs: list[_Run] = dataclasses.field(default_factory=list)
    unavailable: dict[str, str] = dataclasses.field(default_factory=dict)
    reprs: dict[str, str] = dataclasses.field(default_factory=dict)
    failures: list[Failure] = dataclasses.field(default_factory=list)


async def _stage_and_run(
    staged: _Staged,
    profile: ConformanceProfile,
    agency: str,
    scenarios: tuple[Scenario, ...],
    calls: list[Call],
    timeout: float,  # noqa: ASYNC109 - the agency timeout under test, handed to AgencyHttp
) -> None:
    transport = AgencyTransport()
    adapters: list[tuple[Scenario, Adapter]] = []
    try:
        async with HostileAgency(scenarios, timeout=timeout) as hostile:
            for scenario in scenarios:
                root = hostile.url(scenario.name)
                if root is None:
                    continue
                http = AgencyHttp(
                    transport,
                    agency=agency,
                    base_url=root + base_path(profile),
                    timeout=timeout,
                    max_body=BATTERY_MAX_BODY,
                )
                try:
                    adapter = build_adapter(profile, http)
                except Exception as exc:
                    detail = f"building the adapter raised {type(exc).__name__}"
                    staged.failures.append(Failure("battery.factory", scenario.name, detail))
                    continue
                adapters.append((scenario, adapter))
                staged.reprs[scenario.name] = repr(adapter)
            # Three timeouts and a margin: enough for an adapter that makes a second request (a token first),
            # short enough that one ignoring every timeout is reported instead of hanging the test run.
            limit = 3 * timeout + 0.25
            jobs = [_run(adapter, scenario, call, limit) for scenario, adapter in adapters for call in calls]
            staged.runs = list(await asyncio.gather(*jobs))
            staged.unavailable = dict(hostile.unavailable)
    finally:
        for _, adapter in adapters:
            await adapter.aclose()
        await transport.aclose()


async def _run(adapter: Adapter, scenario: Scenario, call: Call, limit: float) -> _Run:
    started = time.monotonic()
    guard = asyncio.timeout(limit)
    error: Exception | None = None
    returned: str | None = None
    try:
        async with guard:
            outcome = await adapter.execute(call)
        returned = type(outcome).__name__
    except Exception as exc:
        error = exc
    elapsed = time.monotonic() - started
    return _Run(scenario, call, None if guard.expired() else error, returned, elapsed, guard.expired())


def _judge(run: _Run, agency: str, timeout: float, secrets: Mapping[str, str]) -> list[Failure]:
    scenario, error = run.scenario, run.error
    subject = f"{scenario.name} {run.call.service}"
    if run.hung:
        return [Failure("battery.hang", subject, f"still running after {run.elapsed:.1f} s: the timeout is ignored")]
    if error is None:
        return [Failure("battery.class", subject, f"returned {run.returned} for a hostile answer")]
    failures = [
        Failure("battery.secret-leak", subject, f"the value of {name!r} appears in the exception chain")
        for name in _leaked(_exception_texts(error), secrets)
    ]
    if not isinstance(error, TransientAgencyError):
        foreign = "" if isinstance(error, MppError) else " (a foreign exception escaped: translate it at the edge)"
        name = f"{type(error).__module__}.{type(error).__qualname__}"
        failures.append(Failure("battery.class", subject, f"raised {name}, expected TransientAgencyError{foreign}"))
        return failures
    if scenario.sent is not None and error.sent is not scenario.sent:
        failures.append(Failure("battery.sent", subject, f"sent={error.sent}, expected sent={scenario.sent}"))
    if scenario.retry_after is not None and error.retry_after != scenario.retry_after:
        detail = f"retry_after={error.retry_after}, expected {scenario.retry_after}"
        failures.append(Failure("battery.retry-after", subject, detail))
    if scenario.prompt and run.elapsed > timeout * PROMPT_FRACTION:
        detail = f"took {run.elapsed:.2f} s; expected under {timeout * PROMPT_FRACTION:.2f} s"
        failures.append(Failure("battery.prompt", subject, detail))
    if error.agency != agency:
        failures.append(Failure("battery.agency", subject, f"the error says agency={error.agency!r}"))
    return failures


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def _exception_texts(error: BaseException) -> list[str]:
    """Everything an exception shows a log, a traceback or a debugger, its whole chain included."""
    texts = ["".join(traceback.format_exception(error))]
    for link in _chain(error):
        texts += [_safe(str, link), _safe(repr, link), _safe(repr, link.args), _safe(repr, vars(link))]
    return texts


def _safe(render: Callable[[Any], str], value: Any) -> str:
    try:
        return render(value)
    except Exception as exc:  # a broken __repr__ must not stop the search; it is not a leak either
        return f"<{type(exc).__name__} while rendering>"


def _leaked(texts: Iterable[str], secrets: Mapping[str, str]) -> list[str]:
    joined = "\n".join(texts)
    return [name for name, value in secrets.items() if value in joined]


def _leaks_in_reprs(reprs: Mapping[str, str], secrets: Mapping[str, str]) -> list[Failure]:
    leaked = _leaked(reprs.values(), secrets)
    return [Failure("battery.secret-leak", "repr(adapter)", f"the value of {name!r} appears") for name in leaked]


def _leaks_in_logs(lines: list[tuple[str, str]], secrets: Mapping[str, str]) -> list[Failure]:
    failures = []
    for name, value in secrets.items():
        loggers = sorted({logger for logger, line in lines if value in line})
        if loggers:
            detail = f"the value of {name!r} appears in log lines of {', '.join(loggers)}"
            failures.append(Failure("battery.secret-leak", "logs", detail))
    return failures


def _outcome(run: _Run) -> ScenarioOutcome:
    error = run.error
    transient = error if isinstance(error, TransientAgencyError) else None
    raised = None if error is None else f"{type(error).__module__}.{type(error).__qualname__}"
    if run.hung:
        raised = "(still running)"
    return ScenarioOutcome(
        scenario=run.scenario.name,
        service=run.call.service,
        raised=raised,
        sent=None if transient is None else transient.sent,
        retry_after=None if transient is None else transient.retry_after,
        elapsed=run.elapsed,
    )
