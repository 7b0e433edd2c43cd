"""The journeys service the HTTP layer calls: start, read, wait for, resume and cancel a journey, for one client.

It checks what a journey settles once, at its start, for all its steps: the journey exists, the client is granted
every step's service and acts for the counter's MPP, the citizen's consent (when any step reads personal data)
is valid now, and the payload fits the definition's schema. The HTTP layer checks the body's shape, the
``Idempotency-Key`` header and the ``callback_url`` (as for requests) before calling :meth:`Journeys.start`.

Visibility is that of requests: the client that started a journey and the clients of the same MPP see it; an
operations client sees every journey without its results; anyone else gets ``None`` (the API's 404).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
import structlog
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]  # no stubs
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from adapters import Registry
from contracts import (
    Counter,
    FieldError,
    JourneyRecord,
    JourneyRequest,
    JourneyStatus,
    JourneyStepRecord,
    JourneyStepResume,
    Problem,
    StepStatus,
    Subject,
    mask_nik,
)

from ..audit import Auditor
from ..config import Settings
from ..problems import ApiProblem
from ..security import Client
from ..service import field_errors
from ..store import (
    AuditEvent,
    IdempotencyMismatch,
    NewJourney,
    StoredJourney,
    StoredRequest,
    StoreUnavailable,
    new_request_id,
)
from ..telemetry import ids
from ._catalog import CompiledJourney, JourneyCatalog
from ._engine import JourneyEngine
from ._expressions import Unresolved, resolve

__all__ = ["Journeys", "new_journey_id"]

log = structlog.get_logger("gateway.journeys")


def new_journey_id() -> str:
    """``jrn_`` and a ULID: journeys sort by start time, like requests."""
    return "jrn_" + new_request_id()[4:]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _schema_errors(validator: Draft202012Validator, payload: Any) -> list[FieldError]:
    """Where ``payload`` breaks the journey's schema, by field, never echoing a value."""
    errors = []
    for error in sorted(validator.iter_errors(payload), key=lambda e: [str(p) for p in e.absolute_path]):
        path = ["payload", *(str(p) for p in error.absolute_path)]
        if error.validator == "required" and isinstance(error.validator_value, list):
            present = error.instance if isinstance(error.instance, dict) else {}
            for name in error.validator_value:
                if name not in present:
                    errors.append(FieldError(field=".".join([*path, str(name)]), message="required"))
            continue
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = set((error.schema or {}).get("properties", {})) if isinstance(error.schema, dict) else set()
            for name in error.instance:
                if name not in allowed:
                    errors.append(FieldError(field=".".join([*path, str(name)]), message="not a field of this journey"))
            continue
        errors.append(FieldError(field=".".join(path), message=f"does not satisfy '{error.validator}'"))
    return errors


class Journeys:
    """Journeys for the API: each method takes the calling client and answers only what it may see."""

    def __init__(self, engine: JourneyEngine, *, settings: Settings, registry: Registry) -> None:
        self.engine = engine
        self.catalog: JourneyCatalog = engine.catalog
        self._store = engine.store
        self._auditor: Auditor = engine.auditor
        self._settings = settings
        self._registry = registry
        self._validators: dict[str, Draft202012Validator] = {}

    # -- start --------------------------------------------------------------------------------------------------

    async def start(
        self, client: Client, request: JourneyRequest, *, idempotency_key: str | None, traceparent: str | None
    ) -> JourneyRecord:
        """Check and store a new journey, store its first steps' requests, and return its record; the same
        ``idempotency_key`` returns the journey it started before."""
        compiled = self.catalog.get(request.journey)
        if compiled is None:
            raise ApiProblem(
                "unknown-journey",
                "no journey with this id; see GET /v1/journeys",
                errors=[FieldError(field="journey", message="unknown journey")],
            )
        await self._check_grants(client, compiled, request)
        self._check_consent(compiled, request)
        errors = _schema_errors(self._validator(compiled), request.payload)
        if errors:
            raise ApiProblem("validation-error", f"{len(errors)} field(s) break the journey's payload schema",
                             errors=errors)  # fmt: skip
        new = self._new_journey(client, compiled, request, traceparent)
        fingerprint = hashlib.sha256(
            orjson.dumps(request.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
        ).hexdigest()
        audit = self._event("journey.started", new.client_id, new, request.applicant.nik, "ok")
        try:
            existing = await self._store.insert_journey(
                new, idempotency=(idempotency_key, fingerprint) if idempotency_key else None, audit=audit
            )
        except StoreUnavailable as exc:
            log.error("journey.not_stored", reason="store-unavailable")
            raise ApiProblem(
                "store-unavailable",
                f"the journey could not be stored and was not started; try again in {exc.retry_after} s",
                headers={"Retry-After": str(exc.retry_after)},
            ) from None
        except IdempotencyMismatch:
            raise ApiProblem(
                "idempotency-key-reused",
                "this Idempotency-Key was used for a different journey",
                errors=[FieldError(field="Idempotency-Key", message="already names a different journey")],
            ) from None
        journey_id = existing or new.id
        if existing is None:
            log.info("journey.started", journey_id=new.id, journey=new.journey, mpp=new.mpp_id, desk=new.desk)
        try:
            await self.engine.advance(journey_id)
        except Exception:  # stored: the sweeper advances it
            log.warning("journey.advance_failed", journey_id=journey_id, exc_info=True)
        stored = await self._store.get_journey(journey_id)
        if stored is None:  # pragma: no cover - journeys are never deleted
            raise RuntimeError("a stored journey is missing from the store")
        return await self._record(stored, masked=False)

    async def _check_grants(self, client: Client, compiled: CompiledJourney, request: JourneyRequest) -> None:
        """Every step's service granted, and the counter's MPP the client's: 403 otherwise (audited)."""
        refused = sorted({s.service for s in compiled.definition.steps if not client.may_use(s.service)})
        if refused:
            await self._denied(client, compiled, request, "service-not-granted")
            raise ApiProblem(
                "forbidden", f"this client is not granted every service of the journey: {', '.join(refused)}"
            )
        if not client.may_act_for(request.counter.mpp_id):
            await self._denied(client, compiled, request, "mpp-not-granted")
            raise ApiProblem(
                "forbidden",
                "this client may not act for that MPP",
                errors=[FieldError(field="counter.mpp_id", message="not this client's MPP")],
            )

    async def _denied(self, client: Client, compiled: CompiledJourney, request: JourneyRequest, reason: str) -> None:
        counter = request.counter
        await self._auditor.record(
            AuditEvent(
                "access.denied", _now(), client.id, counter.mpp_id, counter.desk, counter.operator,
                compiled.definition.id, None, self._auditor.subject(request.applicant.nik), reason,
            )
        )  # fmt: skip

    def _check_consent(self, compiled: CompiledJourney, request: JourneyRequest) -> None:
        """The consent covers every step: required when any reads personal data, and valid now."""
        if compiled.personal_data and request.consent is None:
            raise ApiProblem(
                "consent-required",
                "this journey reads personal data: include the citizen's consent",
                errors=[FieldError(field="consent", message="required for this journey")],
            )
        if request.consent is None:
            return
        reason = request.consent.invalid_at(
            _now(),
            max_age=dt.timedelta(seconds=self._settings.consent_max_age_seconds),
            skew=dt.timedelta(seconds=self._settings.consent_clock_skew_seconds),
        )
        if reason:
            raise ApiProblem(
                "consent-invalid",
                f"the consent {reason}",
                errors=[FieldError(field="consent.given_at", message=reason)],
            )

    def _validator(self, compiled: CompiledJourney) -> Draft202012Validator:
        journey_id = compiled.definition.id
        validator = self._validators.get(journey_id)
        if validator is None:
            validator = self._validators[journey_id] = Draft202012Validator(
                compiled.definition.payload_schema, format_checker=Draft202012Validator.FORMAT_CHECKER
            )
        return validator

    def _new_journey(
        self, client: Client, compiled: CompiledJourney, request: JourneyRequest, traceparent: str | None
    ) -> NewJourney:
        """The row to store, under a root span of its own: every step's request is a child of it, one trace."""
        journey_id = new_journey_id()
        definition = compiled.definition
        telemetry = self.engine.telemetry
        parent = telemetry.extract({"traceparent": traceparent} if traceparent else {})
        with telemetry.tracer.start_as_current_span(
            f"journey {definition.id}",
            context=parent,
            kind=SpanKind.INTERNAL,
            attributes={"mpp.journey_id": journey_id, "mpp.journey": definition.id,
                        "mpp.mpp_id": request.counter.mpp_id, "mpp.journey.steps": len(definition.steps)},
        ) as span:  # fmt: skip
            trace_id, span_id = ids(span)
            sampled = span.get_span_context().trace_flags.sampled
        envelope = request.model_dump(mode="json", include={"applicant", "consent", "payload", "callback_url"})
        return NewJourney(
            id=journey_id,
            journey=definition.id,
            client_id=client.id,
            mpp_id=request.counter.mpp_id,
            desk=request.counter.desk,
            operator=request.counter.operator,
            nik_masked=mask_nik(request.applicant.nik),
            envelope=envelope,
            steps=tuple(step.name for step in definition.steps),
            trace_id=trace_id,
            traceparent=f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}",
            visit_budget=definition.visit_budget_seconds,
            created_at=_now(),
        )

    def _event(
        self, action: str, client_id: str, journey: NewJourney | StoredJourney, nik: Any, outcome: str
    ) -> AuditEvent | None:
        if not self._auditor.enabled:
            return None
        return AuditEvent(
            action, _now(), client_id, journey.mpp_id, journey.desk, journey.operator, journey.journey, journey.id,
            self._auditor.subject(nik), outcome,
        )  # fmt: skip

    # -- reading ------------------------------------------------------------------------------------------------

    async def _visible(self, client: Client, journey_id: str) -> tuple[StoredJourney, bool] | None:
        """The journey and whether it is masked for ``client``; ``None`` when the client may not see it."""
        journey = await self._store.get_journey(journey_id)
        if journey is None:
            return None
        if client.may_read(journey.client_id, journey.mpp_id):
            return journey, False
        if client.is_ops:
            return journey, True
        nik = (journey.envelope.get("applicant") or {}).get("nik")
        await self._auditor.record(
            AuditEvent("access.denied", _now(), client.id, client.mpp_id, None, None, journey.journey, journey.id,
                       self._auditor.subject(nik), "not-visible")
        )  # fmt: skip
        return None

    async def get(self, client: Client, journey_id: str) -> JourneyRecord | None:
        """The journey's record, or ``None`` when it is unknown or not the client's to see."""
        found = await self._visible(client, journey_id)
        if found is None:
            return None
        journey, masked = found
        if not masked and journey.result is not None:
            nik = (journey.envelope.get("applicant") or {}).get("nik")
            await self._auditor.record(
                AuditEvent("journey.read", _now(), client.id, client.mpp_id, None, None, journey.journey, journey.id,
                           self._auditor.subject(nik), "ok")
            )  # fmt: skip
        return await self._record(journey, masked=masked)

    async def wait(
        self, client: Client, journey_id: str, timeout: float  # noqa: ASYNC109 - bounds the wait, not the call
    ) -> JourneyRecord | None:
        """The record once the journey is final, or as it is after ``timeout`` seconds."""
        found = await self._visible(client, journey_id)
        if found is None:
            return None
        journey = await self.engine.wait(journey_id, timeout)
        return None if journey is None else await self._record(journey, masked=found[1])

    async def changes(self, client: Client, journey_id: str) -> AsyncIterator[JourneyRecord]:
        """The record now, then at each change, ending with the final one (nothing for a journey not visible)."""
        found = await self._visible(client, journey_id)
        if found is None:
            return
        masked = found[1]
        seen: tuple[Any, ...] | None = None
        while True:
            event = self.engine.changed(journey_id)
            journey = await self._store.get_journey(journey_id)
            if journey is None:  # pragma: no cover - journeys are never deleted
                return
            mark = (journey.status, journey.updated_at, tuple((s.status, s.request_id) for s in journey.steps))
            if mark != seen:
                seen = mark
                yield await self._record(journey, masked=masked)
            if journey.status.final:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=self.engine.sweep_interval)

    async def _record(self, journey: StoredJourney, *, masked: bool) -> JourneyRecord:
        compiled = self.catalog.get(journey.journey)
        requests: dict[str, StoredRequest] = {}
        for step in journey.steps:
            if step.request_id is not None:
                row = await self._store.get(step.request_id, with_attempts=False)
                if row is not None:
                    requests[step.name] = row
        steps = []
        for step in journey.steps:
            definition = compiled.definition.step(step.name) if compiled is not None else None
            row = requests.get(step.name)
            problem = step.problem or (row.problem if row is not None and step.status.final else None)
            result = row.result if row is not None and step.status is StepStatus.COMPLETED and not masked else None
            steps.append(
                JourneyStepRecord(
                    name=step.name,
                    service=definition.service if definition is not None else (row.service if row else "unknown"),
                    status=step.status,
                    required=definition.required if definition is not None else True,
                    request_id=step.request_id,
                    result=result,
                    problem=Problem.model_validate(problem) if problem else None,
                    attempts=row.attempt_count if row is not None else 0,
                    runs=step.run,
                    started_at=step.started_at,
                    finished_at=step.finished_at,
                    skipped_because=step.skipped_because,
                )
            )
        return JourneyRecord(
            id=journey.id,
            journey=journey.journey,
            status=journey.status,
            client_id=journey.client_id,
            counter=Counter(mpp_id=journey.mpp_id, desk=journey.desk, operator=journey.operator),
            subject=Subject(nik_masked=journey.nik_masked),
            steps=steps,
            result=None if masked else journey.result,
            problem=Problem.model_validate(journey.problem) if journey.problem else None,
            visit_budget_seconds=journey.visit_budget,
            within_visit=journey.within_visit,
            created_at=journey.created_at,
            updated_at=journey.updated_at,
            finished_at=journey.finished_at,
            trace_id=journey.trace_id,
        )

    # -- resume and cancel --------------------------------------------------------------------------------------

    async def resume(self, client: Client, journey_id: str, resume: JourneyStepResume) -> JourneyRecord:
        """Run a failed journey's failed or rejected step again, with ``resume.payload`` over its payload."""
        found = await self._visible(client, journey_id)
        if found is None or found[1]:
            raise ApiProblem("not-found", "no journey with this id for this client")
        journey = found[0]
        compiled = self.catalog.get(journey.journey)
        step = journey.step(resume.step)
        if compiled is None or step is None:
            raise ApiProblem("validation-error", "the journey has no step of this name",
                             errors=[FieldError(field="step", message="not a step of this journey")])  # fmt: skip
        if journey.status is not JourneyStatus.FAILED or step.status not in (StepStatus.FAILED, StepStatus.REJECTED):
            raise ApiProblem(
                "journey-not-resumable",
                f"the journey is {journey.status} and its step {step.name} is {step.status}: only a failed journey "
                "is resumed, at a failed or rejected step",
            )
        override = {**(step.override or {}), **(resume.payload or {})} or None
        await self._check_corrected(compiled, journey, step.name, override)
        at = _now()
        audit = self._event("journey.resumed", client.id, journey, (journey.envelope.get("applicant") or {}).get("nik"),
                            step.name)  # fmt: skip
        if not await self._store.resume_journey(journey.id, step.name, override=override, at=at, audit=audit):
            raise ApiProblem("journey-not-resumable", "the journey changed meanwhile; read it again")
        log.info("journey.resumed", journey_id=journey.id, journey=journey.journey, step=step.name)
        await self.engine.advance(journey.id)
        return await self._reread(journey.id)

    async def _check_corrected(
        self, compiled: CompiledJourney, journey: StoredJourney, name: str, override: Mapping[str, Any] | None
    ) -> None:
        """The step's payload with the corrections fits its service: 422 naming ``payload.<field>`` otherwise."""
        definition = compiled.definition.step(name)
        entry = self._registry.services.get(definition.service)
        if entry is None:
            return
        payload: dict[str, Any] = {}
        context = await self.engine.context(journey)
        for field, template in definition.payload.items():
            if override and field in override:
                continue
            try:
                payload[field] = resolve(template, context)
            except Unresolved:
                return  # an input it needs is missing: the engine skips the step, saying why
        payload.update(override or {})
        try:
            entry[1].payload_model.model_validate(payload)
        except ValidationError as exc:
            errors = field_errors(exc.errors(include_url=False, include_input=False), ("payload",))
            raise ApiProblem("validation-error", f"{len(errors)} field(s) of the corrected payload break the "
                             "service's contract", errors=errors) from None  # fmt: skip

    async def cancel(self, client: Client, journey_id: str) -> JourneyRecord:
        """Cancel a running journey: its pending steps are cancelled; a step already running ends on its own."""
        found = await self._visible(client, journey_id)
        if found is None or found[1]:
            raise ApiProblem("not-found", "no journey with this id for this client")
        journey = found[0]
        if journey.status.final or not await self.engine.finish(journey, JourneyStatus.CANCELLED, actor=client.id):
            current = await self._store.get_journey(journey_id)
            status = current.status if current is not None else journey.status
            raise ApiProblem("journey-final", f"the journey is {status} already")
        return await self._reread(journey.id)

    async def _reread(self, journey_id: str) -> JourneyRecord:
        journey = await self._store.get_journey(journey_id)
        if journey is None:  # pragma: no cover - journeys are never deleted
            raise RuntimeError("a stored journey is missing from the store")
        return await self._record(journey, masked=False)
