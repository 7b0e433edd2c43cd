"""Service descriptors: what the catalog says about each service a counter can request."""

from __future__ import annotations

import enum
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["SERVICE_ID_PATTERN", "LocalizedText", "ServiceDescriptor", "ServiceKind"]

#: ``<agency>.<subject>.<action>``, each part lower-case letters, digits and hyphens.
SERVICE_ID_PATTERN = r"^[a-z][a-z0-9-]*\.[a-z][a-z0-9-]*\.[a-z][a-z0-9-]*$"
_SERVICE_ID = re.compile(SERVICE_ID_PATTERN)


class ServiceKind(enum.StrEnum):
    """How a service behaves towards the citizen waiting at the counter."""

    LOOKUP = "lookup"
    """Answered while the citizen waits; safe to repeat."""
    SUBMISSION = "submission"
    """Changes something at the agency; may take longer and must never be done twice."""


class LocalizedText(BaseModel):
    """A user-facing text in Indonesian and English."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, description="Bahasa Indonesia.")
    en: str = Field(min_length=1, description="English.")


class ServiceDescriptor(BaseModel):
    """One entry of ``GET /v1/services``: enough for a counter app to render a form."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=SERVICE_ID_PATTERN, examples=["dukcapil.nik.verify"])
    agency: str = Field(min_length=1, description="Agency slug, the first part of the id.")
    title: LocalizedText
    description: LocalizedText | None = None
    kind: ServiceKind
    personal_data: bool = Field(description="True when the result carries personal data: consent is required.")
    payload_schema: dict[str, Any] = Field(description="JSON Schema (2020-12) of the request payload.")
    result_schema: dict[str, Any] = Field(description="JSON Schema (2020-12) of the result.")

    @model_validator(mode="after")
    def _agency_prefix(self) -> ServiceDescriptor:
        if not _SERVICE_ID.match(self.id) or self.id.split(".", 1)[0] != self.agency:
            raise ValueError("service id must be <agency>.<subject>.<action> with the descriptor's own agency")
        return self
