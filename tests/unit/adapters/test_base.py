"""The adapter interface: dispatch through the handler table, execute overridden, settings required, no routes."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from adapters import (
    Adapter,
    AdapterContext,
    AgencyHttp,
    Call,
    CallHandler,
    Completed,
    ContractError,
    Outcome,
    Service,
    require_settings,
)
from contracts import LocalizedText, ServiceKind


class Payload(BaseModel):
    """Any payload."""


class Result(BaseModel):
    """Which handler answered."""

    handler: str


def service(action: str) -> Service[Payload, Result]:
    return Service(f"base-test.thing.{action}", LocalizedText(id="Uji", en="Test"), ServiceKind.LOOKUP, False,
                   Payload, Result)  # fmt: skip


FIRST, SECOND = service("first"), service("second")


def context(settings: Mapping[str, str] | None = None) -> AdapterContext:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError("these adapters send nothing")

    http = AgencyHttp(httpx.MockTransport(refuse), agency="base-test", base_url="http://agency.test")
    return AdapterContext(http=http, settings=settings or {})


def call(service_id: str) -> Call:
    return Call("req_1", service_id, "3201014708900001", Payload(), "req_1", 1, time.monotonic() + 5)


class TableAdapter(Adapter):
    """Declares a handler per service and nothing else."""

    agency = "base-test"

    def __init__(self, context: AdapterContext) -> None:
        self.tables_built = 0

    def services(self) -> Sequence[Service[Any, Any]]:
        return (FIRST, SECOND)

    def handlers(self) -> Mapping[str, CallHandler]:
        self.tables_built += 1
        return {FIRST.id: self._first, SECOND.id: self._second}

    async def _first(self, call: Call) -> Outcome:
        return Completed(Result(handler="first"))

    async def _second(self, call: Call) -> Outcome:
        return Completed(Result(handler="second"), agency_reference="ref-2")


class OwnExecuteAdapter(Adapter):
    """Written against the interface before handlers(): overrides execute whole."""

    agency = "base-test"

    def __init__(self, context: AdapterContext) -> None:
        pass

    def services(self) -> Sequence[Service[Any, Any]]:
        return (FIRST,)

    async def execute(self, call: Call) -> Outcome:
        return Completed(Result(handler=f"own:{call.service}"))


async def test_execute_runs_the_handler_of_the_call_service() -> None:
    """Each call reaches the handler its service maps to, with the handler's outcome returned unchanged."""
    adapter = TableAdapter(context())
    first = await adapter.execute(call(FIRST.id))
    second = await adapter.execute(call(SECOND.id))
    assert isinstance(first, Completed) and first.result == Result(handler="first")
    assert isinstance(second, Completed) and (second.result, second.agency_reference) == (Result(handler="second"),
                                                                                          "ref-2")


async def test_the_handler_table_is_built_once_per_adapter() -> None:
    """handlers() is asked on the first call only, and again for another adapter instance."""
    adapter = TableAdapter(context())
    for _ in range(3):
        await adapter.execute(call(FIRST.id))
    assert adapter.tables_built == 1
    other = TableAdapter(context())
    await other.execute(call(SECOND.id))
    assert (adapter.tables_built, other.tables_built) == (1, 1)


class NoHandlersAdapter(Adapter):
    """Overrides neither handlers() nor execute()."""

    agency = "base-test"

    def __init__(self, context: AdapterContext) -> None:
        pass

    def services(self) -> Sequence[Service[Any, Any]]:
        return (FIRST,)


@pytest.mark.parametrize("adapter_class", [TableAdapter, NoHandlersAdapter], ids=["table", "no-handlers"])
async def test_an_unknown_service_is_a_404_contract_error_then_calls_still_work(adapter_class: type[Adapter]) -> None:
    """A service without a handler is ContractError unknown-service (404), and the adapter keeps serving."""
    adapter = adapter_class(context())  # type: ignore[call-arg]  # both classes take the context
    with pytest.raises(ContractError) as caught:
        await adapter.execute(call("base-test.thing.nothing"))
    assert (caught.value.slug, caught.value.status) == ("unknown-service", 404)
    assert "base-test.thing.nothing" in str(caught.value)
    if adapter_class is TableAdapter:
        assert isinstance(await adapter.execute(call(FIRST.id)), Completed)


async def test_an_adapter_that_overrides_execute_keeps_working() -> None:
    """The interface before handlers(): execute overridden, handlers() never asked, every call goes to execute."""
    adapter = OwnExecuteAdapter(context())
    outcome = await adapter.execute(call("base-test.thing.anything"))
    assert isinstance(outcome, Completed) and outcome.result == Result(handler="own:base-test.thing.anything")
    assert adapter.handlers() == {}


def test_adapters_declare_no_inbound_routes_by_default() -> None:
    """inbound_routes() is empty unless the adapter declares some; the context offers no store by default."""
    assert tuple(TableAdapter(context()).inbound_routes()) == ()
    assert tuple(OwnExecuteAdapter(context()).inbound_routes()) == ()
    assert context().documents is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "the base-test adapter needs the settings: MPP_AGENCY__BASE_TEST__TOKEN, MPP_AGENCY__BASE_TEST__OFFICE$"),
        ({"token": "s3cr3t-token", "office": "  "}, "needs the settings: MPP_AGENCY__BASE_TEST__OFFICE$"),
        ({"office": "KANIM"}, "needs the settings: MPP_AGENCY__BASE_TEST__TOKEN$"),
    ],
    ids=["both-missing", "blank", "one-missing"],
)
def test_require_settings_names_missing_variables_never_values(settings: dict[str, str], message: str) -> None:
    """Missing or blank settings are named by their variable, in the given order; no value is echoed."""
    with pytest.raises(ValueError, match=message) as caught:
        require_settings(settings, ("token", "office"), agency="base-test")
    assert "s3cr3t-token" not in str(caught.value)


def test_require_settings_passes_when_all_are_set_and_uses_the_label() -> None:
    """All settings present: nothing raised; the label, when given, names the adapter in the message."""
    require_settings({"token": "t", "office": "KANIM"}, ("token", "office"), agency="base-test")
    with pytest.raises(ValueError, match=r"^the Base Test adapter needs"):
        require_settings({}, ("token",), agency="base-test", label="Base Test")
