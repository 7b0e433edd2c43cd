"""Fakes shared by the unit tests: a scriptable adapter and ready-made client keys."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from adapters import Adapter, AdapterContext, Call, Completed, Outcome, ProblemType, Service
from contracts import LocalizedText, ServiceKind
from gateway import Client, ClientDirectory, hash_key

KEY_A = "mppk_test-key-client-a-000000000000000000000"
KEY_B = "mppk_test-key-client-b-000000000000000000000"
KEY_NARROW = "mppk_test-key-narrow-0000000000000000000000"
KEY_OPS = "mppk_test-key-ops-00000000000000000000000000"

# A structurally valid NIK of the synthetic kind (Jawa Barat, Kab. Bogor, woman born 07-08-1990).
NIK = "3201014708900001"


#: The counter's time zone (WIB), in which the tests' consents are dated.
WIB = dt.timezone(dt.timedelta(hours=7))


def consent_given_at(offset: dt.timedelta = dt.timedelta()) -> str:
    """A consent's ``given_at`` as a counter sends it: now, shifted by ``offset``, in WIB to the second.

    The gateway accepts a consent only while it is valid, so tests date theirs at run time, never in a literal.
    """
    return (dt.datetime.now(WIB) + offset).isoformat(timespec="seconds")


def directory() -> ClientDirectory:
    """Four clients: two MPPs with every service, one limited to the lookup service, and an operations client."""
    return ClientDirectory(
        [
            Client("counter-a", "Counter A", frozenset({hash_key(KEY_A)}), mpp_id="mpp-a"),
            Client("counter-b", "Counter B", frozenset({hash_key(KEY_B)}), mpp_id="mpp-b"),
            Client("kiosk", "Kiosk", frozenset({hash_key(KEY_NARROW)}), mpp_id="mpp-a", services=("fake.thing.*",)),
            Client("ops", "Ops console", frozenset({hash_key(KEY_OPS)}), services=(), roles=frozenset({"ops"})),
        ]
    )


class ThingPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str = Field(min_length=1, max_length=50)
    count: int = Field(default=1, ge=1, le=10)


class ThingResult(BaseModel):
    echoed: str
    attempt: int


class FakeAdapter(Adapter):
    """An adapter whose outcomes are scripted: each call pops the next exception or returns a result."""

    agency = "fake"
    agency_name = "Fake agency"
    problem_types = (
        ProblemType("thing-not-found", 422, LocalizedText(id="Benda tidak ditemukan", en="Thing not found"),
                    "The fake agency has no such thing."),
    )

    def __init__(self, context: AdapterContext | None = None) -> None:
        self.script: list[BaseException | float] = []
        self.calls: list[Call] = []
        #: What reconcile answers, in order; when empty it cannot reconcile (the base class's behaviour).
        self.reconcile_script: list[Outcome | BaseException | None] = []
        self.reconciled: list[Call] = []
        self.release = asyncio.Event()
        self.release.set()

    def services(self) -> Sequence[Service[Any, Any]]:
        return [
            Service(
                id="fake.thing.lookup",
                title=LocalizedText(id="Cari benda", en="Look a thing up"),
                kind=ServiceKind.LOOKUP,
                personal_data=False,
                payload_model=ThingPayload,
                result_model=ThingResult,
            ),
            Service(
                id="fake.person.read",
                title=LocalizedText(id="Baca data orang", en="Read a person's data"),
                kind=ServiceKind.LOOKUP,
                personal_data=True,
                payload_model=ThingPayload,
                result_model=ThingResult,
            ),
            Service(
                id="fake.thing.submit",
                title=LocalizedText(id="Kirim benda", en="Submit a thing"),
                kind=ServiceKind.SUBMISSION,
                personal_data=False,
                payload_model=ThingPayload,
                result_model=ThingResult,
            ),
        ]

    async def reconcile(self, call: Call) -> Outcome | None:
        self.reconciled.append(call)
        if not self.reconcile_script:
            return await super().reconcile(call)
        step = self.reconcile_script.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step

    async def execute(self, call: Call) -> Outcome:
        self.calls.append(call)
        await self.release.wait()
        if self.script:
            step = self.script.pop(0)
            if isinstance(step, BaseException):
                raise step
            await asyncio.sleep(step)
        payload = call.payload
        assert isinstance(payload, ThingPayload)
        return Completed(result=ThingResult(echoed=payload.value, attempt=call.attempt), agency_reference="REF-1")


def envelope(service: str = "fake.thing.lookup", **overrides: Any) -> dict[str, Any]:
    """A valid request body for the fake services."""
    body: dict[str, Any] = {
        "service": service,
        "applicant": {"nik": NIK},
        "counter": {"mpp_id": "mpp-a", "desk": "loket-01", "operator": "op-7"},
        "payload": {"value": "hello"},
    }
    body.update(overrides)
    return body
