"""Problem types and their rendering: every error the API returns is RFC 9457 ``application/problem+json``.

Problem ``type`` URIs are relative references (``/problems/<slug>``) that the gateway itself serves as a readable
page, so they stay stable and resolvable wherever the gateway is deployed. Titles are data, in Indonesian and
English; ``detail`` never carries personal data (everything passes through :func:`gateway._redact.redact`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import orjson
from aiohttp import web

from adapters import MppError
from contracts import FieldError, Problem

from ._redact import redact

__all__ = ["PROBLEM_TYPES", "ApiProblem", "ProblemType", "problem_response", "type_uri"]

MEDIA_TYPE = "application/problem+json"


@dataclasses.dataclass(frozen=True)
class ProblemType:
    """One kind of problem: slug, HTTP status and titles."""

    slug: str
    status: int
    title_en: str
    title_id: str
    description: str


PROBLEM_TYPES: dict[str, ProblemType] = {
    p.slug: p
    for p in [
        ProblemType(
            "malformed-json",
            400,
            "Malformed JSON body",
            "Badan permintaan bukan JSON yang sah",
            "The request body could not be parsed as JSON.",
        ),
        ProblemType(
            "unauthorized",
            401,
            "Authentication required",
            "Autentikasi diperlukan",
            "No valid API key was presented as a bearer token.",
        ),
        ProblemType(
            "forbidden",
            403,
            "Not allowed for this client",
            "Tidak diizinkan untuk klien ini",
            "The client is not granted this service or this MPP.",
        ),
        ProblemType(
            "not-found", 404, "Not found", "Tidak ditemukan", "No such resource, or it belongs to another client."
        ),
        ProblemType(
            "unknown-service",
            404,
            "Unknown service",
            "Layanan tidak dikenal",
            "The service id is not in the catalog (GET /v1/services).",
        ),
        ProblemType(
            "method-not-allowed",
            405,
            "Method not allowed",
            "Metode tidak diizinkan",
            "The resource does not support this HTTP method.",
        ),
        ProblemType(
            "payload-too-large",
            413,
            "Request body too large",
            "Badan permintaan terlalu besar",
            "The body exceeds the gateway's size limit.",
        ),
        ProblemType(
            "unsupported-media-type",
            415,
            "Unsupported media type",
            "Jenis media tidak didukung",
            "Request bodies must be application/json.",
        ),
        ProblemType(
            "validation-error",
            422,
            "The request is not valid",
            "Permintaan tidak valid",
            "One or more fields break the contract; 'errors' lists each field path and why.",
        ),
        ProblemType(
            "consent-required",
            422,
            "Consent required",
            "Persetujuan diperlukan",
            "The service reads personal data: the request must carry the citizen's consent record.",
        ),
        ProblemType(
            "agency-rejected",
            422,
            "The agency refused the request",
            "Instansi menolak permintaan",
            "The agency answered with a final refusal; 'code' carries its reason code.",
        ),
        ProblemType(
            "nik-not-found",
            422,
            "NIK not found",
            "NIK tidak ditemukan",
            "The civil registry has no record of this NIK.",
        ),
        ProblemType(
            "nik-deceased",
            422,
            "NIK belongs to a deceased person",
            "NIK atas nama orang meninggal",
            "The civil registry records the holder of this NIK as deceased.",
        ),
        ProblemType(
            "nik-inactive",
            422,
            "NIK is inactive",
            "NIK tidak aktif",
            "The record is inactive: the citizen must contact the regional Dukcapil office.",
        ),
        ProblemType(
            "nik-invalid-format",
            422,
            "NIK not in Dukcapil format",
            "NIK tidak sesuai format Dukcapil",
            "The civil registry does not accept this NIK's format.",
        ),
        ProblemType(
            "nik-unprocessable",
            422,
            "NIK cannot be processed",
            "NIK tidak dapat diproses",
            "The civil registry could not process this NIK.",
        ),
        ProblemType(
            "internal-error",
            500,
            "Internal error",
            "Kesalahan internal",
            "An unexpected error; the trace id identifies it in the gateway's logs.",
        ),
        ProblemType(
            "agency-unavailable",
            503,
            "Agency unavailable",
            "Instansi tidak tersedia",
            "The agency could not be reached or kept failing within the request's deadline.",
        ),
        ProblemType(
            "agency-misconfigured",
            503,
            "Agency connection misconfigured",
            "Konfigurasi instansi bermasalah",
            "The gateway's credentials, address, quota or access hours at the agency need operations.",
        ),
        ProblemType(
            "agency-outcome-unknown",
            503,
            "Agency outcome unknown",
            "Hasil di instansi tidak diketahui",
            "A submission was sent but no answer came back; it must be reconciled before any resend.",
        ),
        ProblemType(
            "deadline-exceeded",
            504,
            "Deadline exceeded",
            "Batas waktu terlampaui",
            "The request's end-to-end deadline passed before the agency answered.",
        ),
        ProblemType("not-ready", 503, "Not ready", "Belum siap", "The store is unreachable or no adapter is loaded."),
    ]
}


def type_uri(slug: str) -> str:
    """The ``type`` URI of a problem slug."""
    return f"/problems/{slug}"


class ApiProblem(MppError):
    """Raised by handlers to answer with a problem of a registered type."""

    def __init__(
        self,
        slug: str,
        detail: str,
        *,
        errors: Sequence[FieldError] | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.slug = slug
        self.errors = list(errors) if errors is not None else None
        self.code = code
        self.headers = headers or {}


def build_problem(
    slug: str,
    detail: str | None,
    *,
    instance: str | None = None,
    trace_id: str | None = None,
    errors: Sequence[FieldError] | None = None,
    code: str | None = None,
    status: int | None = None,
) -> Problem:
    """A :class:`Problem` of type ``slug``, with its detail and field messages passed through the redactor."""
    kind = PROBLEM_TYPES.get(slug) or PROBLEM_TYPES["internal-error"]
    return Problem(
        type=type_uri(kind.slug),
        title=kind.title_en,
        status=status or kind.status,
        detail=redact(detail) if detail else None,
        instance=instance,
        trace_id=trace_id,
        errors=[FieldError(field=e.field, message=redact(e.message)) for e in errors] if errors else None,
        code=code,
    )


def problem_response(problem: Problem, *, headers: dict[str, str] | None = None) -> web.Response:
    """Render ``problem`` as an ``application/problem+json`` response."""
    body = orjson.dumps(problem.model_dump(mode="json", exclude_none=True))
    response = web.Response(body=body, status=problem.status, content_type=MEDIA_TYPE, headers=headers)
    return response
