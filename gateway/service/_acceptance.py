"""Accepting a service request: contract, grants, consent, idempotency, fail-fast, then insert and run."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import hashlib
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import structlog
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from adapters import Adapter, Registry, Service
from contracts import (
    SERVICE_ID_PATTERN,
    Consent,
    FieldError,
    RequestStatus,
    ServiceKind,
    ServiceRequest,
    contains_nik_like,
    mask_nik,
)

from ..audit import Auditor
from ..config import Settings
from ..dispatch import Dispatcher
from ..problems import ApiProblem
from ..security import CallbackPolicy, CallbackRefused, Client
from ..store import (
    IdempotencyMismatch,
    NewRequest,
    RequestStore,
    StepLink,
    StoredRequest,
    StoreError,
    StoreUnavailable,
    new_request_id,
)
from ..telemetry import TraceContext

__all__ = ["Acceptance", "Accepted", "StepSubmission", "Submission", "field_errors"]

log = structlog.get_logger("gateway.api")

_SERVICE_ID = re.compile(SERVICE_ID_PATTERN)
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def field_errors(errors: Sequence[ErrorDetails], prefix: Sequence[str | int] = ()) -> list[FieldError]:
    """Pydantic errors as field paths and messages, never echoing the submitted value."""
    out = []
    for err in errors:
        loc = [*prefix, *err["loc"]]
        message = err["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        out.append(FieldError(field=".".join(str(p) for p in loc) or "(body)", message=message))
    return out


@dataclasses.dataclass(frozen=True)
class Submission:
    """One call to accept a request, as the edge parsed it."""

    #: The decoded JSON body, not yet checked against the contract.
    body: Any
    #: The trace the request joins; its ids are stored with the request so the run continues it.
    trace: TraceContext
    #: The client's ``Idempotency-Key``, as sent.
    idempotency_key: str | None = None
    #: How long the client is willing to wait for the final answer, already capped; ``None``: answer at once.
    wait: float | None = None


@dataclasses.dataclass(frozen=True)
class StepSubmission:
    """A journey's step to store as a request: its body as the journey resolved it, in the journey's trace, under
    a key derived from the journey, the step and its run (storing it again finds the request stored first)."""

    body: dict[str, Any]
    trace: TraceContext
    idempotency_key: str
    #: The step the request runs as; its ``journey.step`` audit entry is filled in from ``request.accepted``.
    link: StepLink


@dataclasses.dataclass(frozen=True)
class Accepted:
    """What accepting a request gave: the record to show, and whether it replays an earlier acceptance."""

    record: StoredRequest
    #: The same Idempotency-Key named this request before: nothing new was stored or sent.
    replayed: bool = False
    #: The wait honoured, for ``Preference-Applied``; ``None`` when the client asked none (or on a replay).
    waited: float | None = None


@dataclasses.dataclass(frozen=True)
class _Checked:
    adapter: Adapter
    service: Service[Any, Any]
    envelope: ServiceRequest
    payload: BaseModel


class Acceptance:
    """The acceptance use case: check a submission, store it durably, and run it now or queue it.

    Every refusal is an :class:`~gateway.problems.ApiProblem` naming the field; nothing is stored unless every
    check passed, and once the insert returns the request is durable whatever happens to this process.
    """

    def __init__(
        self, *, settings: Settings, store: RequestStore, registry: Registry, dispatcher: Dispatcher, auditor: Auditor
    ) -> None:
        self._settings = settings
        self._store = store
        self._registry = registry
        self._dispatcher = dispatcher
        self._auditor = auditor
        self._callbacks = CallbackPolicy.from_settings(settings)

    async def accept(self, client: Client, submission: Submission) -> Accepted:
        """Accept ``submission`` for ``client``: the stored record, final if it finished within the wait."""
        return await self._store_and_run(client, submission, await self._check(client, submission))

    async def accept_step(self, client: Client, step: StepSubmission) -> Accepted:
        """Accept a journey's step for the journey's ``client`` through the same checks, store and run as any
        request, but for what the journey settled at its start (its consent's age, the key) and the agency's
        current state: the dispatcher, not the acceptance, decides on a circuit or a saturated agency, and the
        outcome is recorded on the request.

        :class:`~gateway.store.StepTaken` when the step was no longer pending (nothing stored).
        """
        submission = Submission(body=step.body, trace=step.trace, idempotency_key=step.idempotency_key)
        checked = await self._check(client, submission, step=True)
        return await self._store_and_run(client, submission, checked, step=step.link)

    async def _store_and_run(
        self, client: Client, submission: Submission, checked: _Checked, *, step: StepLink | None = None
    ) -> Accepted:
        adapter, service, envelope, payload = checked.adapter, checked.service, checked.envelope, checked.payload
        new, idempotency = self._new_request(client, submission, checked)
        dispatcher = self._dispatcher
        # With a worker free, the request is stored already claimed and run at once: no queue, no second write.
        lease = (dispatcher.owner, dispatcher.lease_seconds) if dispatcher.can_run_now() else None
        # The request and its request.accepted audit entry are committed together before the agency is called: a
        # request that cannot be stored is refused, and never reaches the agency. A lookup run within its call
        # does not wait for that commit to reach the disk: nobody is told of it before its finish, which does wait
        # and takes the insert to disk with it (or make_durable, should the call answer without a final status).
        eager = (lease is not None and submission.wait is not None and service.kind is ServiceKind.LOOKUP
                 and idempotency is None and step is None)  # fmt: skip
        audit = self._auditor.accepted(new, envelope.applicant.nik)
        if step is not None and audit is not None:  # the step's entry names its journey
            step = dataclasses.replace(step, audit=dataclasses.replace(audit, action="journey.step",
                                                                       outcome=step.journey_id))  # fmt: skip
        try:
            existing = await self._store.insert(new, idempotency=idempotency, lease=lease, audit=audit, step=step,
                                                durable=not eager)  # fmt: skip
        except StoreUnavailable as exc:
            log.error("request.not_stored", reason="store-unavailable")
            raise _not_stored(exc) from None
        except IdempotencyMismatch:
            raise ApiProblem(
                "idempotency-key-reused",
                "this Idempotency-Key was used for a different request",
                errors=[FieldError(field="Idempotency-Key", message="already names a different request")],
            ) from None
        if existing is not None:
            # A retry from the counter: the same request, not a second one.
            structlog.contextvars.bind_contextvars(request_id=existing, service=service.id, agency=adapter.agency)
            row = await self._stored(existing)
            if step is None:
                await self._auditor.read(client, row)  # a replay hands the result out again
            return Accepted(row, replayed=True)
        structlog.contextvars.bind_contextvars(request_id=new.id, service=service.id, agency=adapter.agency)
        log.debug("request.accepted", mpp=new.mpp_id, desk=new.desk)
        wait = submission.wait
        if lease is not None and not dispatcher.can_run_now():
            # Requests accepted alongside took every slot while this insert committed: queue it like the others.
            with contextlib.suppress(StoreError):  # else its lease expires and the sweeper takes it
                await self._store.release(new.id, lease[0])
            lease = None
        if lease is not None:
            # A waited lookup runs within this call: its dispatch and first attempt are events of the call's span.
            in_call = wait is not None and service.kind is ServiceKind.LOOKUP
            run = dispatcher.run_claimed(_claimed(new, lease), payload, in_call=in_call)
            if wait is not None:
                await asyncio.wait((run,), timeout=wait)
            finished = run.result() if run.done() and not run.cancelled() else None
            if finished is not None and finished.status.final:
                return Accepted(finished, waited=wait)
            if eager:
                await self._store.make_durable(new.id)
            return Accepted(await self._stored(new.id), waited=wait)
        waiter = dispatcher.waiter(new.id) if wait else None
        dispatcher.submit(new.id)
        if waiter is not None:
            try:
                await asyncio.wait_for(asyncio.shield(waiter), timeout=wait)
            except TimeoutError:
                pass
            finally:
                dispatcher.forget(new.id, waiter)
        if eager:
            await self._store.make_durable(new.id)
        return Accepted(await self._stored(new.id), waited=wait if waiter is not None else None)

    async def _check(self, client: Client, submission: Submission, *, step: bool = False) -> _Checked:
        """Every rule a request must pass before anything is stored, in the order a client fixes them (a journey's
        ``step``: those its journey did not settle at its start)."""
        data = submission.body
        if not isinstance(data, dict):
            raise ApiProblem(
                "validation-error",
                "the body must be a JSON object",
                errors=[FieldError(field="(body)", message="must be a JSON object")],
            )
        services = self._registry.services
        service_id = data.get("service")
        if isinstance(service_id, str) and _SERVICE_ID.match(service_id) and service_id not in services:
            raise ApiProblem(
                "unknown-service",
                "no service with this id; see GET /v1/services",
                errors=[FieldError(field="service", message="unknown service")],
            )
        errors: list[FieldError] = []
        envelope: ServiceRequest | None = None
        try:
            envelope = ServiceRequest.model_validate(data)
        except ValidationError as exc:
            errors.extend(field_errors(exc.errors(include_url=False, include_input=False)))
        entry = services.get(service_id) if isinstance(service_id, str) else None
        payload = None
        if entry is not None and isinstance(data.get("payload", {}), dict):
            try:
                payload = entry[1].payload_model.model_validate(data.get("payload", {}))
            except ValidationError as exc:
                errors.extend(field_errors(exc.errors(include_url=False, include_input=False), ("payload",)))
        if errors or envelope is None or entry is None or payload is None:
            raise ApiProblem("validation-error", f"{len(errors)} field(s) break the contract", errors=errors)
        adapter, service = entry
        await self._check_grants(client, service, envelope, step=step)
        if step:
            return _Checked(adapter, service, envelope, payload)
        key = submission.idempotency_key
        if key is not None and not _IDEMPOTENCY_KEY.match(key):
            raise ApiProblem("validation-error", "Idempotency-Key must be 1-255 visible ASCII characters",
                             errors=[FieldError(field="Idempotency-Key", message="1-255 visible ASCII characters")])
        if key is not None and contains_nik_like(key):
            raise ApiProblem(
                "validation-error",
                "Idempotency-Key must not contain a NIK-like number: the key is stored and audited in clear",
                errors=[FieldError(field="Idempotency-Key", message="must not contain a NIK-like number (16 digits)")],
            )
        if service.kind is ServiceKind.SUBMISSION and key is None:
            raise ApiProblem("idempotency-key-required", "send an Idempotency-Key header with every submission")
        if service.kind is ServiceKind.LOOKUP and (retry_after := self._dispatcher.fast_fail(adapter.agency)):
            # The log line carries the call's trace id (bound by the edge), as the problem does.
            log.warning("request.refused", reason="circuit-open", problem="agency-unavailable", service=service.id,
                        agency=adapter.agency, retry_after=retry_after)  # fmt: skip
            raise ApiProblem(
                "agency-unavailable",
                f"{adapter.agency} is unavailable (circuit open); try again in {retry_after} s",
                headers={"Retry-After": str(retry_after)},
            )
        if service.kind is ServiceKind.LOOKUP and (retry_after := self._dispatcher.reserve_lookup(adapter.agency)):
            # Refused before anything is stored: every permit of the agency is taken and its line is full.
            log.warning("request.refused", reason="agency-saturated", problem="agency-saturated", service=service.id,
                        agency=adapter.agency, retry_after=retry_after)  # fmt: skip
            raise ApiProblem(
                "agency-saturated",
                f"{adapter.agency} has more lookups in flight and waiting than it takes; try again in {retry_after} s",
                headers={"Retry-After": str(retry_after)},
            )
        return _Checked(adapter, service, envelope, payload)

    async def _check_grants(
        self, client: Client, service: Service[Any, Any], envelope: ServiceRequest, *, step: bool = False
    ) -> None:
        """The client's grants, the citizen's consent, and the client's means to receive a callback (a journey's
        ``step``: its consent was checked when the journey started)."""
        if not client.may_use(service.id):
            await self._auditor.denied(client, service.id, envelope, "service-not-granted")
            raise ApiProblem("forbidden", "this client is not granted the service")
        if not client.may_act_for(envelope.counter.mpp_id):
            await self._auditor.denied(client, service.id, envelope, "mpp-not-granted")
            raise ApiProblem(
                "forbidden",
                "this client may not act for that MPP",
                errors=[FieldError(field="counter.mpp_id", message="not this client's MPP")],
            )
        if service.personal_data and envelope.consent is None:
            raise ApiProblem(
                "consent-required",
                "this service reads personal data: include the citizen's consent",
                errors=[FieldError(field="consent", message="required for this service")],
            )
        if not step and envelope.consent is not None and (reason := self._consent_invalid(envelope.consent)):
            raise ApiProblem(
                "consent-invalid",
                f"the consent {reason}",
                errors=[FieldError(field="consent.given_at", message=reason)],
            )
        if envelope.callback_url is not None and not client.webhook_secret:
            raise ApiProblem(
                "validation-error",
                "this client has no webhook secret configured, so it cannot receive callbacks",
                errors=[FieldError(field="callback_url", message="no webhook secret for this client")],
            )
        if envelope.callback_url is not None:
            try:
                self._callbacks.check(str(envelope.callback_url), client.callback_origins)
            except CallbackRefused as exc:
                raise ApiProblem(
                    "validation-error",
                    f"callback_url {exc}",
                    errors=[FieldError(field="callback_url", message=str(exc))],
                ) from None

    def _consent_invalid(self, consent: Consent) -> str | None:
        """Why ``consent`` does not cover a request accepted now; a stored request that runs later is not checked."""
        return consent.invalid_at(
            dt.datetime.now(dt.UTC),
            max_age=dt.timedelta(seconds=self._settings.consent_max_age_seconds),
            skew=dt.timedelta(seconds=self._settings.consent_clock_skew_seconds),
        )

    def _new_request(
        self, client: Client, submission: Submission, checked: _Checked
    ) -> tuple[NewRequest, tuple[str, str] | None]:
        """The row to store, and the idempotency key with the fingerprint of what it names."""
        service, envelope = checked.service, checked.envelope
        lifetime = (
            self._settings.submission_deadline_seconds
            if service.kind is ServiceKind.SUBMISSION
            else self._settings.lookup_deadline_seconds
        )
        stored_envelope = envelope.model_dump(mode="json", exclude={"service", "counter", "payload"})
        stored_envelope["payload"] = checked.payload.model_dump(mode="json")
        trace = submission.trace
        new = NewRequest(
            id=new_request_id(),
            client_id=client.id,
            service=service.id,
            agency=checked.adapter.agency,
            kind=service.kind,
            mpp_id=envelope.counter.mpp_id,
            desk=envelope.counter.desk,
            operator=envelope.counter.operator,
            nik_masked=mask_nik(envelope.applicant.nik),
            envelope=stored_envelope,
            trace_id=trace.trace_id,
            traceparent=trace.traceparent,
            created_at=dt.datetime.now(dt.UTC),
            deadline_at=time.time() + lifetime,
        )
        if submission.idempotency_key is None:
            return new, None
        return new, (submission.idempotency_key, _fingerprint(service.id, envelope, stored_envelope))

    async def _stored(self, request_id: str) -> StoredRequest:
        row = await self._store.get(request_id)
        if row is None:  # pragma: no cover - an insert is durable and records are never deleted
            raise RuntimeError("an accepted request is missing from the store")
        return row


def _not_stored(exc: StoreUnavailable) -> ApiProblem:
    """503 store-unavailable for a request that could not be stored, and so was not sent."""
    return ApiProblem(
        "store-unavailable",
        f"the request could not be stored and was not sent; try again in {exc.retry_after} s",
        headers={"Retry-After": str(exc.retry_after)},
    )


def _fingerprint(service_id: str, envelope: ServiceRequest, stored_envelope: Mapping[str, Any]) -> str:
    """What an Idempotency-Key names: a hash of the request as the counter sent it, whatever its key order."""
    canonical = orjson.dumps(
        {"service": service_id, "counter": envelope.counter.model_dump(mode="json"), **stored_envelope},
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(canonical).hexdigest()


def _claimed(new: NewRequest, lease: tuple[str, float]) -> StoredRequest:
    """The request as the store holds it after an insert under ``lease``."""
    return StoredRequest(
        id=new.id, client_id=new.client_id, service=new.service, agency=new.agency, kind=new.kind,
        status=RequestStatus.IN_PROGRESS, mpp_id=new.mpp_id, desk=new.desk, operator=new.operator,
        nik_masked=new.nik_masked, envelope=new.envelope, result=None, agency_reference=None, problem=None,
        trace_id=new.trace_id, traceparent=new.traceparent, created_at=new.created_at, updated_at=new.created_at,
        finished_at=None, deadline_at=new.deadline_at, lease_owner=lease[0], lease_expires=time.time() + lease[1],
        attempt_count=0,
    )  # fmt: skip
