"""Problem types and their rendering: every error the API returns is RFC 9457 ``application/problem+json``.

Problem ``type`` URIs are relative references (``/problems/<slug>``) that the gateway itself serves as a readable
page, so they stay stable and resolvable wherever the gateway is deployed. Titles are data, in Indonesian and
English; ``detail`` never carries personal data (everything passes through :func:`gateway.security.redact`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import orjson
from aiohttp import web

from adapters import MppError, ProblemType
from contracts import FieldError, LocalizedText, Problem

from ..security import redact

__all__ = ["BUILTIN_PROBLEMS", "DEFAULT_PROBLEMS", "ApiProblem", "ProblemCatalog", "problem_response", "type_uri"]

MEDIA_TYPE = "application/problem+json"


def _p(slug: str, status: int, en: str, id_: str, description: str) -> ProblemType:
    return ProblemType(slug, status, LocalizedText(id=id_, en=en), description)


#: The gateway's own problem types; adapters add theirs (:attr:`adapters.Adapter.problem_types`).
BUILTIN_PROBLEMS: tuple[ProblemType, ...] = (
    _p(
        "malformed-json",
        400,
        "Malformed JSON body",
        "Badan permintaan bukan JSON yang sah",
        "The request body could not be parsed as JSON.",
    ),
    _p(
        "unauthorized",
        401,
        "Authentication required",
        "Autentikasi diperlukan",
        "No valid API key was presented as a bearer token.",
    ),
    _p(
        "forbidden",
        403,
        "Not allowed for this client",
        "Tidak diizinkan untuk klien ini",
        "The client is not granted this service or this MPP.",
    ),
    _p("not-found", 404, "Not found", "Tidak ditemukan", "No such resource, or it belongs to another client."),
    _p(
        "unknown-service",
        404,
        "Unknown service",
        "Layanan tidak dikenal",
        "The service id is not in the catalog (GET /v1/services).",
    ),
    _p(
        "method-not-allowed",
        405,
        "Method not allowed",
        "Metode tidak diizinkan",
        "The resource does not support this HTTP method.",
    ),
    _p(
        "payload-too-large",
        413,
        "Request body too large",
        "Badan permintaan terlalu besar",
        "The body exceeds the gateway's size limit.",
    ),
    _p(
        "unsupported-media-type",
        415,
        "Unsupported media type",
        "Jenis media tidak didukung",
        "Request bodies must be application/json.",
    ),
    _p(
        "validation-error",
        422,
        "The request is not valid",
        "Permintaan tidak valid",
        "One or more fields break the contract; 'errors' lists each field path and why.",
    ),
    _p(
        "consent-required",
        422,
        "Consent required",
        "Persetujuan diperlukan",
        "The service reads personal data: the request must carry the citizen's consent record.",
    ),
    _p(
        "consent-invalid",
        422,
        "Consent not valid now",
        "Persetujuan tidak berlaku saat ini",
        "The consent's given_at lies in the future or is older than the gateway accepts (12 hours unless "
        "configured otherwise): take the citizen's consent again for this visit.",
    ),
    _p(
        "agency-rejected",
        422,
        "The agency refused the request",
        "Instansi menolak permintaan",
        "The agency answered with a final refusal; 'code' carries its reason code.",
    ),
    _p(
        "idempotency-key-required",
        400,
        "Idempotency-Key required",
        "Idempotency-Key diperlukan",
        "Submissions change something at the agency: send an Idempotency-Key header so a retry is safe.",
    ),
    _p(
        "idempotency-key-reused",
        422,
        "Idempotency-Key reused with another body",
        "Idempotency-Key dipakai ulang dengan isi berbeda",
        "This key already names a different request from this client; use a new key for a new request.",
    ),
    _p(
        "request-not-final",
        409,
        "The request is not final yet",
        "Permintaan belum selesai",
        "A finished request only can be rated: wait until it is completed, rejected or failed.",
    ),
    _p(
        "request-already-rated",
        409,
        "The request was rated already",
        "Permintaan sudah dinilai",
        "A request is rated once; the same scores sent again are answered as before, other scores are refused.",
    ),
    _p(
        "journey-not-final",
        409,
        "The journey is not final yet",
        "Perjalanan layanan belum selesai",
        "A finished journey only can be rated: wait until it is completed, failed or cancelled.",
    ),
    _p(
        "journey-already-rated",
        409,
        "The journey was rated already",
        "Perjalanan layanan sudah dinilai",
        "A journey is rated once; the same scores sent again are answered as before, other scores are refused.",
    ),
    _p(
        "unknown-journey",
        422,
        "Unknown journey",
        "Layanan terpadu tidak dikenal",
        "The journey id is not among the journeys this gateway runs (GET /v1/journeys).",
    ),
    _p(
        "journey-not-resumable",
        409,
        "The journey cannot be resumed",
        "Layanan terpadu tidak dapat dilanjutkan",
        "Only a failed journey is resumed, at one of its failed or rejected steps; read GET /v1/journeys/{id} for "
        "its state.",
    ),
    _p(
        "journey-final",
        409,
        "The journey has ended",
        "Layanan terpadu sudah berakhir",
        "A completed, failed or cancelled journey is not cancelled again; read GET /v1/journeys/{id} for its state.",
    ),
    _p(
        "rate-limited",
        429,
        "Too many requests",
        "Terlalu banyak permintaan",
        "The client exceeded its request rate at this gateway replica; 'Retry-After' says when to try again.",
    ),
    _p(
        "request-timeout",
        408,
        "Request body too slow",
        "Badan permintaan terlalu lambat",
        "The request body did not arrive within the gateway's body timeout; the connection is closed after this "
        "answer. Send the body at once, with the headers.",
    ),
    _p(
        "too-many-event-streams",
        429,
        "Too many event streams",
        "Terlalu banyak aliran peristiwa",
        "The client already has as many event streams (GET /v1/requests/{id}/events) open at this gateway replica "
        "as it may; close one, or read the request with GET /v1/requests/{id}. 'Retry-After' says when to try again.",
    ),
    _p(
        "event-streams-full",
        503,
        "Event streams full",
        "Aliran peristiwa penuh",
        "This gateway replica has as many event streams open as it serves; read the request with "
        "GET /v1/requests/{id}, or open the stream again after 'Retry-After'.",
    ),
    _p(
        "too-many-connections",
        503,
        "Too many connections",
        "Terlalu banyak koneksi",
        "The gateway replica holds as many connections as it accepts, from the caller's address or in all; it "
        "answered before reading the request and closed the connection. Reuse an open connection, or try again "
        "after 'Retry-After'.",
    ),
    _p(
        "stored-data-unreadable",
        500,
        "Stored data unreadable",
        "Data tersimpan tidak terbaca",
        "The request's sealed personal data could not be opened: altered in the database, moved from another row, "
        "or sealed with a data key this gateway no longer holds. Operations are alerted; the trace id finds the log.",
    ),
    _p(
        "internal-error",
        500,
        "Internal error",
        "Kesalahan internal",
        "An unexpected error; the trace id identifies it in the gateway's logs.",
    ),
    _p(
        "agency-unavailable",
        503,
        "Agency unavailable",
        "Instansi tidak tersedia",
        "The agency could not be reached or kept failing within the request's deadline.",
    ),
    _p(
        "agency-saturated",
        503,
        "Agency saturated",
        "Instansi sedang penuh",
        "Every request slot for the agency is taken and its waiting line is full. Nothing was stored; try again "
        "after Retry-After.",
    ),
    _p(
        "agency-misconfigured",
        503,
        "Agency connection misconfigured",
        "Konfigurasi instansi bermasalah",
        "The gateway's credentials, address, quota or access hours at the agency need operations.",
    ),
    _p(
        "agency-protocol-error",
        502,
        "Agency reply unreadable",
        "Balasan instansi tidak terbaca",
        "The agency answered in its own format, but with a reply the adapter cannot read (the detail names the "
        "agency, its method and the field). Not retried: the same question gets the same reply. Operations are "
        "alerted; the adapter needs updating.",
    ),
    _p(
        "agency-outcome-unknown",
        503,
        "Agency outcome unknown",
        "Hasil di instansi tidak diketahui",
        "A submission was sent but no answer came back; it must be reconciled before any resend.",
    ),
    _p(
        "store-unavailable",
        503,
        "Gateway storage unavailable",
        "Penyimpanan gateway tidak tersedia",
        "The gateway cannot store the request right now (its database is full or read-only), so nothing was stored "
        "or sent to the agency; 'Retry-After' says when to try again. Operations are alerted.",
    ),
    _p(
        "deadline-exceeded",
        504,
        "Deadline exceeded",
        "Batas waktu terlampaui",
        "The request's end-to-end deadline passed before the agency answered.",
    ),
    _p(
        "not-ready", 503, "Not ready", "Belum siap",
        "The store is unreachable or cannot take writes (full or read-only), or no adapter is loaded.",
    ),
)


class ProblemCatalog:
    """Every problem type the running gateway can answer with: its own and its adapters'."""

    def __init__(self, types: Iterable[ProblemType] = BUILTIN_PROBLEMS) -> None:
        self._types: dict[str, ProblemType] = {}
        for kind in types:
            known = self._types.get(kind.slug)
            if known is not None and known != kind:
                raise ValueError(f"problem type {kind.slug!r} is defined twice, differently")
            self._types[kind.slug] = kind

    def __contains__(self, slug: object) -> bool:
        return slug in self._types

    def get(self, slug: str) -> ProblemType | None:
        """The problem type ``slug``, or ``None``."""
        return self._types.get(slug)

    def values(self) -> list[ProblemType]:
        """Every problem type, by slug."""
        return [self._types[k] for k in sorted(self._types)]

    def build(
        self,
        slug: str,
        detail: str | None,
        *,
        instance: str | None = None,
        trace_id: str | None = None,
        errors: Sequence[FieldError] | None = None,
        code: str | None = None,
        status: int | None = None,
    ) -> Problem:
        """A :class:`Problem` of type ``slug``, detail and field messages passed through the masking step."""
        kind = self._types.get(slug) or self._types["internal-error"]
        return Problem(
            type=type_uri(kind.slug),
            title=kind.title.en,
            status=status or kind.status,
            detail=redact(detail) if detail else None,
            instance=instance,
            trace_id=trace_id,
            errors=[FieldError(field=e.field, message=redact(e.message)) for e in errors] if errors else None,
            code=code,
        )


DEFAULT_PROBLEMS = ProblemCatalog()


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


def problem_response(problem: Problem, *, headers: dict[str, str] | None = None) -> web.Response:
    """Render ``problem`` as an ``application/problem+json`` response."""
    body = orjson.dumps(problem.model_dump(mode="json", exclude_none=True))
    response = web.Response(body=body, status=problem.status, content_type=MEDIA_TYPE, headers=headers)
    return response
