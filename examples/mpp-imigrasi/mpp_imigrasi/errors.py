"""The imigrasi booking API's error codes, as a table, and the one function that reads them.

INVENTED WIRE FORMAT: these codes belong to the generated package, not to the agency; replace them with the codes
its documentation names. Errors arrive as ``{"error": {"code": "SLOT_FULL", "message": "..."}}`` with a matching
HTTP status; the code decides. ``NOT_FOUND`` (no appointment under a reference) is an answer to reconciliation,
read by the adapter itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

from adapters import AgencyError, AgencyMisconfigured, AgencyRejected, ProblemType, TransientAgencyError
from contracts import LocalizedText

__all__ = [
    "APPOINTMENT_NOT_FOUND",
    "ERROR_CODES",
    "PROBLEM_TYPES",
    "SLUG_ALREADY_BOOKED",
    "SLUG_NO_APPOINTMENT",
    "SLUG_SLOT_UNAVAILABLE",
    "CodeEntry",
    "raise_for_error",
]

AGENCY = "imigrasi"
APPOINTMENT_NOT_FOUND = "NOT_FOUND"
#: The problem types of the rejections (``/problems/<slug>``): stable, since counter apps branch on them.
SLUG_SLOT_UNAVAILABLE = "imigrasi-slot-unavailable"
SLUG_ALREADY_BOOKED = "imigrasi-already-booked"
SLUG_NO_APPOINTMENT = "imigrasi-appointment-not-found"


class CodeEntry(NamedTuple):
    """What one error code means to the gateway."""

    error: type[AgencyError]
    slug: str | None
    #: English and free of personal data.
    detail: str
    #: For transient codes: whether the office may have acted on the request.
    sent: bool = True


PROBLEM_TYPES: tuple[ProblemType, ...] = (
    ProblemType(
        SLUG_SLOT_UNAVAILABLE,
        409,
        LocalizedText(id="Jadwal tidak tersedia", en="Appointment slot unavailable"),
        "The chosen slot does not exist (any more) or is fully booked: look the free slots up again.",
    ),
    ProblemType(
        SLUG_ALREADY_BOOKED,
        409,
        LocalizedText(id="Sudah punya jadwal aktif", en="Already has an active appointment"),
        "The applicant already holds an active appointment at this office; one at a time is allowed.",
    ),
    ProblemType(
        SLUG_NO_APPOINTMENT,
        404,
        LocalizedText(id="Jadwal tidak ditemukan", en="Appointment not found"),
        "The office holds no appointment under that reference.",
    ),
)

ERROR_CODES: Mapping[str, CodeEntry] = {
    "SLOT_NOT_FOUND": CodeEntry(AgencyRejected, SLUG_SLOT_UNAVAILABLE, "the slot does not exist"),
    "SLOT_FULL": CodeEntry(AgencyRejected, SLUG_SLOT_UNAVAILABLE, "the slot is fully booked"),
    "ALREADY_BOOKED": CodeEntry(AgencyRejected, SLUG_ALREADY_BOOKED, "the applicant has an active appointment"),
    "NOT_FOUND": CodeEntry(AgencyRejected, SLUG_NO_APPOINTMENT, "no appointment under that reference"),
    "UNAUTHORIZED": CodeEntry(AgencyMisconfigured, None, "the API token is missing or invalid"),
    "FORBIDDEN_OFFICE": CodeEntry(AgencyMisconfigured, None, "the API token is not valid for this office"),
    "UNKNOWN_OFFICE": CodeEntry(AgencyMisconfigured, None, "the configured office code is unknown"),
    "IDEMPOTENCY_CONFLICT": CodeEntry(AgencyMisconfigured, None, "the reference was used for another booking"),
    "INVALID_REQUEST": CodeEntry(AgencyMisconfigured, None, "the office could not read the request"),
    # Both refuse before anything is booked: a resend is safe.
    "RATE_LIMITED": CodeEntry(TransientAgencyError, None, "the office asks the gateway to slow down", sent=False),
    "UNAVAILABLE": CodeEntry(TransientAgencyError, None, "the booking system is temporarily down", sent=False),
}
"""Every error code of the wire format."""

_CODE_SHAPE = re.compile(r"^[A-Z0-9_]{1,40}$")


def raise_for_error(code: str, *, retry_after: float | None = None) -> None:
    """Raise the classified error ``code`` stands for; an unknown code is misconfigured (it needs a human)."""
    entry = ERROR_CODES.get(code)
    if entry is None:
        safe = code if _CODE_SHAPE.match(code) else None
        raise AgencyMisconfigured(
            f"{AGENCY} answered with unknown error code {safe or '(malformed)'}", agency=AGENCY, code=safe
        )
    detail = f"{entry.detail} ({code})"
    if entry.error is AgencyRejected:
        raise AgencyRejected(detail, agency=AGENCY, code=code, slug=entry.slug or "agency-rejected")
    if entry.error is TransientAgencyError:
        raise TransientAgencyError(detail, agency=AGENCY, code=code, retry_after=retry_after, sent=entry.sent)
    raise entry.error(detail, agency=AGENCY, code=code)
