"""Result codes of the BPJS Ketenagakerjaan wire format, as a table, and the one function that reads them.

THE WIRE FORMAT IS THE PROJECT'S OWN: BPJS Ketenagakerjaan publishes no partner API, so these codes are invented
(see ``manifest.json``). Every reply of the modelled service is the envelope ``{"kode": "00", "pesan": "...",
"data": ...}``; ``kode`` is authoritative, the HTTP status only mirrors it. ``pesan`` is the agency's Indonesian
text and is never copied into our messages: details are English, from this table, and carry the code.

Two codes are answers rather than failures, and the adapter reads them before this module does: ``10`` (the NIK
is not a participant) is a membership lookup's "no", and ``12`` (no registration under that reference) is what
reconciliation asks about.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

from adapters import AgencyError, AgencyMisconfigured, AgencyRejected, ProblemType, TransientAgencyError
from contracts import LocalizedText

__all__ = [
    "NOT_A_PARTICIPANT",
    "PROBLEM_TYPES",
    "REGISTRATION_NOT_FOUND",
    "RESULT_CODES",
    "SUCCESS",
    "CodeEntry",
    "raise_for_code",
]

AGENCY = "bpjs-ketenagakerjaan"

SUCCESS = "00"
NOT_A_PARTICIPANT = "10"
REGISTRATION_NOT_FOUND = "12"


class CodeEntry(NamedTuple):
    """What one ``kode`` means to us."""

    #: The class to raise, or ``None`` for an answer that is not a failure.
    error: type[AgencyError] | None
    #: The problem type slug of an :class:`~adapters.AgencyRejected`; ``None`` for the other classes.
    slug: str | None
    #: English, free of personal data: safe for problem details, logs and dashboards.
    detail: str
    #: For transient codes: whether the agency may have acted on the request (a submission is then ambiguous).
    sent: bool = True


#: The problem types of the agency's final answers, served by the gateway at ``/problems/<slug>``. The ``bpjstk-``
#: prefix keeps them apart from other agencies' slugs in the gateway's one problem catalog.
PROBLEM_TYPES: tuple[ProblemType, ...] = (
    ProblemType(
        "bpjstk-nik-not-verified",
        422,
        LocalizedText(
            id="NIK tidak lolos validasi kependudukan BPJS Ketenagakerjaan",
            en="NIK failed BPJS Ketenagakerjaan's population check",
        ),
        "BPJS Ketenagakerjaan checks every registration against the civil registry: the NIK is unknown there (11), "
        "its holder is recorded as deceased (13), or the record is inactive (14). The problem's code says which.",
    ),
    ProblemType(
        "bpjstk-already-registered",
        409,
        LocalizedText(id="Sudah terdaftar sebagai peserta aktif", en="Already an active participant"),
        "The NIK already has an active BPJS Ketenagakerjaan membership; a second registration is refused.",
    ),
    ProblemType(
        "bpjstk-registration-invalid",
        422,
        LocalizedText(id="Data pendaftaran ditolak", en="Registration data refused"),
        "BPJS Ketenagakerjaan refused one or more fields of the registration; the detail names the fields.",
    ),
    ProblemType(
        "bpjstk-not-eligible",
        422,
        LocalizedText(id="Tidak memenuhi syarat peserta BPU", en="Not eligible as a non-wage-earner participant"),
        "The applicant's age is outside the range BPJS Ketenagakerjaan accepts for non-wage earners (BPU).",
    ),
    ProblemType(
        "bpjstk-registration-not-found",
        404,
        LocalizedText(id="Pendaftaran tidak ditemukan", en="Registration not found"),
        "BPJS Ketenagakerjaan holds no registration of this applicant under that reference.",
    ),
)

_REJECTED = AgencyRejected
_MISCONFIGURED = AgencyMisconfigured
_TRANSIENT = TransientAgencyError

RESULT_CODES: Mapping[str, CodeEntry] = {
    "00": CodeEntry(None, None, "success"),
    "10": CodeEntry(None, None, "the NIK is not a BPJS Ketenagakerjaan participant"),
    # Final answers about the applicant or the registration.
    "11": CodeEntry(_REJECTED, "bpjstk-nik-not-verified", "the civil registry does not know the NIK"),
    "12": CodeEntry(_REJECTED, "bpjstk-registration-not-found", "no registration of this NIK under that reference"),
    "13": CodeEntry(_REJECTED, "bpjstk-nik-not-verified", "the civil registry records the NIK's holder as deceased"),
    "14": CodeEntry(_REJECTED, "bpjstk-nik-not-verified", "the NIK's civil record is inactive"),
    "20": CodeEntry(_REJECTED, "bpjstk-already-registered", "the NIK already has an active membership"),
    "30": CodeEntry(_REJECTED, "bpjstk-registration-invalid", "the agency refused fields of the registration"),
    "31": CodeEntry(_REJECTED, "bpjstk-not-eligible", "the applicant's age is outside the BPU range"),
    # The gateway's own setup or its use of the protocol: operations must act, retrying cannot help.
    "21": CodeEntry(_MISCONFIGURED, None, "the reference was already used for a different registration"),
    "39": CodeEntry(_MISCONFIGURED, None, "the agency could not read the request: an adapter defect"),
    "40": CodeEntry(_MISCONFIGURED, None, "the API key is missing or invalid"),
    "41": CodeEntry(_MISCONFIGURED, None, "the API key is not permitted to use this service"),
    "42": CodeEntry(_MISCONFIGURED, None, "the daily request quota is exhausted"),
    # The agency's own trouble. After 50 a registration may or may not exist; 51 says nothing was done.
    "50": CodeEntry(_TRANSIENT, None, "the agency failed while processing the request"),
    "51": CodeEntry(_TRANSIENT, None, "the agency's population check is unavailable", sent=False),
}
"""Every ``kode`` of the wire format, mapped to our class, slug and English detail."""

# A code we do not know is echoed for operations only if it looks like a code: the field is the agency's.
_CODE_SHAPE = re.compile(r"^[0-9A-Za-z_-]{1,8}$")


def raise_for_code(code: str, *, retry_after: float | None = None, fields: tuple[str, ...] = ()) -> None:
    """Raise the classified error that ``code`` stands for; return quietly for ``00`` and ``10``.

    ``fields`` names the contract fields the agency refused (code 30), for the detail. An unknown code raises
    :class:`~adapters.AgencyMisconfigured`: guessing could turn an outage into a refusal, and a new code needs a
    human to place it in the table.
    """
    entry = RESULT_CODES.get(code)
    if entry is None:
        safe = code if _CODE_SHAPE.match(code) else None
        raise AgencyMisconfigured(
            f"{AGENCY} answered with unknown kode {safe or '(malformed)'}: add it to the adapter's table",
            agency=AGENCY,
            code=safe,
        )
    if entry.error is None:
        return
    detail = f"{entry.detail} (kode {code})"
    if fields:
        detail = f"{entry.detail}: {', '.join(fields)} (kode {code})"
    if entry.error is AgencyRejected:
        raise AgencyRejected(detail, agency=AGENCY, code=code, slug=entry.slug or "agency-rejected")
    if entry.error is TransientAgencyError:
        raise TransientAgencyError(detail, agency=AGENCY, code=code, retry_after=retry_after, sent=entry.sent)
    raise entry.error(detail, agency=AGENCY, code=code)
