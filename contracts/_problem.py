"""RFC 9457 problem details, the one error format of the API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["FieldError", "Problem"]


class FieldError(BaseModel):
    """One reason a request body was refused, located by its field path."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str = Field(description="Dotted path of the offending field, for example 'applicant.nik'.")
    message: str = Field(description="What is wrong with it. Never contains the submitted value.")


class Problem(BaseModel):
    """An ``application/problem+json`` body (RFC 9457) with the gateway's extension members."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="Stable URI reference identifying the kind of problem.")
    title: str = Field(description="Short, human summary of the kind of problem (the same for every occurrence).")
    status: int = Field(ge=100, le=599, description="HTTP status code of this occurrence.")
    detail: str | None = Field(default=None, description="Explanation of this occurrence, free of personal data.")
    instance: str | None = Field(default=None, description="URI reference of the request or resource concerned.")
    trace_id: str | None = Field(default=None, description="W3C trace id of the API call, for support.")
    errors: list[FieldError] | None = Field(default=None, description="Field-level validation errors.")
    code: str | None = Field(default=None, description="The agency's own reason code, where an agency answered.")
