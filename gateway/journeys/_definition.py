"""A journey definition as its file says it: steps, each a catalog service, wired by references and conditions.

A definition is data (YAML or JSON)::

    id: business.micro-start
    title: {id: Memulai usaha mikro, en: Starting a micro business}
    visit_budget_seconds: 120
    payload_schema:
      type: object
      required: [nib, phone, address]
      properties: {nib: {type: string}, phone: {type: string}, address: {type: object}}
    steps:
      - name: nib
        service: oss.nib.check
        payload: {nib: "${journey.payload.nib}"}
      - name: bpjstk
        service: bpjs-ketenagakerjaan.peserta.verify
      - name: bpjstk_register
        service: bpjs-ketenagakerjaan.peserta.register
        when: {all: [{equals: ["${steps.bpjstk.result.member}", false]},
                     {equals: ["${steps.nib.result.active}", true]}]}
        payload:
          occupation: trader
          monthly_income: below_2m
          programmes: [JKK, JKM]
          phone: "${journey.payload.phone}"
          address: "${journey.payload.address}"
        required: false
    result:
      company: "${steps.nib.result.company_name}"
      kpj: "${steps.bpjstk_register.result.kpj}"

A string that is exactly ``${...}`` is a reference (:mod:`._expressions` resolves it):
``${journey.payload.<path>}``, ``${steps.<name>.result.<path>}`` or ``${steps.<name>.status}``. Every step gets the
journey's applicant, counter and consent; its payload is the definition's, references resolved. A step runs once
every step it ``needs`` or references is final; independent steps run at once.

This module only describes the shape of one file; :mod:`._catalog` checks a definition against the service catalog
(services exist, references fit their result schemas, no cycles) before the gateway starts.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, model_validator

from contracts import JOURNEY_ID_PATTERN, SERVICE_ID_PATTERN, STEP_NAME_PATTERN, LocalizedText

__all__ = ["JourneyDefinition", "StepDefinition"]

_STRICT = ConfigDict(extra="forbid", frozen=True)


class StepDefinition(BaseModel):
    """One step: a service request the journey makes, when its inputs are known and its condition holds."""

    model_config = _STRICT

    name: str = Field(pattern=STEP_NAME_PATTERN)
    service: str = Field(pattern=SERVICE_ID_PATTERN)
    #: Shown to the counter; the service's own title when absent.
    title: LocalizedText | None = None
    #: The service payload: literals and ``${...}`` references, nested objects and lists allowed.
    payload: dict[str, Any] = Field(default_factory=dict)
    #: Steps that must be final before this one starts, besides those its references name.
    needs: tuple[str, ...] = ()
    #: A condition (:func:`._expressions.parse_condition`): the step runs only when it holds, else it is skipped.
    when: dict[str, Any] | None = None
    #: A required step that fails fails the journey; an optional one is recorded and the journey goes on.
    required: bool = True


class JourneyDefinition(BaseModel):
    """One journey: its steps, what it takes at the start, and the combined answer it gives."""

    model_config = _STRICT

    id: str = Field(pattern=JOURNEY_ID_PATTERN)
    title: LocalizedText
    description: LocalizedText | None = None
    #: How long a citizen may wait at the counter for the whole journey: the one-visit measure.
    visit_budget_seconds: PositiveFloat
    #: JSON Schema (2020-12) of the journey payload the counter sends.
    payload_schema: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}, "additionalProperties": False}
    )
    steps: tuple[StepDefinition, ...] = Field(min_length=1, max_length=32)
    #: The combined answer: names to references (or literals), resolved once the journey completes.
    result: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _unique_step_names(self) -> JourneyDefinition:
        seen: set[str] = set()
        for step in self.steps:
            if step.name in seen:
                raise ValueError(f"step {step.name!r} is defined twice")
            seen.add(step.name)
        return self

    def step(self, name: str) -> StepDefinition:
        """The step called ``name`` (:class:`KeyError` when there is none)."""
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)
