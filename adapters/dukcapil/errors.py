"""Dukcapil's answer codes, as a table, and the one function that turns a reply into our error classes.

Dukcapil answers failures with HTTP 200 and ``content[0].RESPONSE_CODE`` plus a text under ``RESPONSE``,
``RESPON`` or ``RESPONSE_DESC``. A reply without a code is a success, except the bare
``{"RESPON": "Data Tidak Ditemukan"}`` form, which means "not found" (code 13).

The agency's text is never copied into our messages: it is Indonesian, its wording varies between deployments,
and nobody has promised it never names the citizen. Our details are English and carry the code instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from adapters import AgencyError, AgencyMisconfigured, AgencyRejected, ProblemType
from contracts import LocalizedText

__all__ = [
    "DUPLICATE_CODE",
    "NOT_FOUND_CODE",
    "PROBLEM_TYPES",
    "RESPONSE_CODES",
    "SUCCESS_CODES",
    "CodeEntry",
    "raise_for_content",
    "response_code",
]

AGENCY = "dukcapil"

#: Keys under which Dukcapil puts the human text of an answer; which one depends on the deployment.
TEXT_KEYS = ("RESPONSE", "RESPON", "RESPONSE_DESC")


class CodeEntry(NamedTuple):
    """What one ``RESPONSE_CODE`` means to us."""

    #: The class to raise, or ``None`` for a success.
    error: type[AgencyError] | None
    #: The problem type slug of an :class:`~adapters.AgencyRejected`; ``None`` for the other classes.
    slug: str | None
    #: English, free of personal data: safe for problem details, logs and dashboards.
    detail: str


#: The problem types of Dukcapil's identity outcomes, served by the gateway at ``/problems/<slug>``.
PROBLEM_TYPES: tuple[ProblemType, ...] = (
    ProblemType(
        "nik-not-found",
        422,
        LocalizedText(id="NIK tidak ditemukan", en="NIK not found"),
        "The civil registry has no record of this NIK.",
    ),
    ProblemType(
        "nik-deceased",
        422,
        LocalizedText(id="NIK atas nama orang meninggal", en="NIK belongs to a deceased person"),
        "The civil registry records the holder of this NIK as deceased.",
    ),
    ProblemType(
        "nik-inactive",
        422,
        LocalizedText(id="NIK tidak aktif", en="NIK is inactive"),
        "The record is inactive: the citizen must contact the regional Dukcapil office.",
    ),
    ProblemType(
        "nik-invalid-format",
        422,
        LocalizedText(id="NIK tidak sesuai format Dukcapil", en="NIK not in Dukcapil format"),
        "The civil registry does not accept this NIK's format.",
    ),
    ProblemType(
        "nik-unprocessable",
        422,
        LocalizedText(id="NIK tidak dapat diproses", en="NIK cannot be processed"),
        "The civil registry could not process this NIK.",
    ),
)

_MISCONFIGURED = AgencyMisconfigured
_REJECTED = AgencyRejected

RESPONSE_CODES: Mapping[str, CodeEntry] = {
    "01": CodeEntry(None, None, "data found"),
    "12": CodeEntry(None, None, "data found; Dukcapil flags the record as a duplicate"),
    # Identity outcomes: final answers about the citizen, shown at the counter.
    "11": CodeEntry(_REJECTED, "nik-deceased", "Dukcapil records the holder of this NIK as deceased"),
    "13": CodeEntry(_REJECTED, "nik-not-found", "the NIK is not in Dukcapil's population database"),
    "14": CodeEntry(
        _REJECTED,
        "nik-inactive",
        "the NIK's record is inactive; the citizen should contact the regional Dukcapil office",
    ),
    "15": CodeEntry(_REJECTED, "nik-invalid-format", "the NIK is not in Dukcapil's format"),
    "08": CodeEntry(_REJECTED, "nik-unprocessable", "Dukcapil cannot process this NIK"),
    # Credentials and network setup: the gateway's fault, never the citizen's.
    "03": CodeEntry(_MISCONFIGURED, None, "Dukcapil login failed: check the user id and password"),
    "04": CodeEntry(_MISCONFIGURED, None, "Dukcapil refused the caller's IP address: check ip_user and the VPN route"),
    "09": CodeEntry(_MISCONFIGURED, None, "Dukcapil received empty credentials"),
    "10": CodeEntry(_MISCONFIGURED, None, "Dukcapil considers the caller's IP address invalid"),
    "16": CodeEntry(_MISCONFIGURED, None, "the institution's access to Dukcapil is not active"),
    "17": CodeEntry(_MISCONFIGURED, None, "the Dukcapil user is not active"),
    # Quota, schedule and request shape: retrying the same call cannot help, operations must act.
    "05": CodeEntry(_MISCONFIGURED, None, "the daily Dukcapil quota is exhausted"),
    "06": CodeEntry(_MISCONFIGURED, None, "outside the access hours Dukcapil permits"),
    "07": CodeEntry(_MISCONFIGURED, None, "Dukcapil reports incomplete request parameters"),
}
"""Every ``RESPONSE_CODE`` known, two digits, mapped to our class, slug and English detail."""

SUCCESS_CODES = frozenset(code for code, entry in RESPONSE_CODES.items() if entry.error is None)
DUPLICATE_CODE = "12"
NOT_FOUND_CODE = "13"

_NOT_FOUND_TEXT = "data tidak ditemukan"
# A code we do not know is echoed into the detail for operations, but only if it looks like a code: the field is
# free text as far as we are concerned, and a detail must stay short and safe to log.
_CODE_SHAPE = re.compile(r"^[0-9A-Za-z_-]{1,8}$")
_MALFORMED = "(malformed)"


def response_code(content: Mapping[str, Any]) -> str | None:
    """The reply's ``RESPONSE_CODE`` normalised to the table's form (``1``, ``"1"`` and ``" 01"`` are ``"01"``).

    Returns ``None`` when the reply has no code; the bare ``RESPON: "Data Tidak Ditemukan"`` form counts as 13, and
    a code that is neither a string nor an integer comes back as ``"(malformed)"``, which no table entry matches.
    """
    raw = content.get("RESPONSE_CODE")
    if raw is None:
        return _not_found_by_text(content)
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        return _MALFORMED
    code = str(raw).strip()
    if not code:
        return _not_found_by_text(content)
    return code.zfill(2) if code.isdigit() else code


def _not_found_by_text(content: Mapping[str, Any]) -> str | None:
    for key in TEXT_KEYS:
        text = content.get(key)
        if isinstance(text, str) and " ".join(text.split()).casefold() == _NOT_FOUND_TEXT:
            return NOT_FOUND_CODE
    return None


def raise_for_content(content: Mapping[str, Any]) -> None:
    """Raise the classified error that ``content`` (one element of the reply's ``content`` list) stands for.

    Returns quietly for a success (no code, 01, or 12). An unknown code, or a lone text we cannot read, raises
    :class:`~adapters.AgencyMisconfigured`: guessing could turn an outage into "citizen not found", and a new
    code needs a human to place it in the table.
    """
    code = response_code(content)
    if code is None:
        if _lone_text(content):
            raise AgencyMisconfigured(
                "Dukcapil answered with a message and no RESPONSE_CODE that the adapter does not recognise",
                agency=AGENCY,
            )
        return
    entry = RESPONSE_CODES.get(code)
    if entry is None:
        safe = code if _CODE_SHAPE.match(code) else None
        raise AgencyMisconfigured(
            f"Dukcapil answered with unknown RESPONSE_CODE {safe or _MALFORMED}: add it to the adapter's table",
            agency=AGENCY,
            code=safe,
        )
    if entry.error is None:
        return
    detail = f"{entry.detail} (RESPONSE_CODE {code})"
    if entry.error is AgencyRejected:
        raise AgencyRejected(detail, agency=AGENCY, code=code, slug=entry.slug or "agency-rejected")
    raise entry.error(detail, agency=AGENCY, code=code)


def _lone_text(content: Mapping[str, Any]) -> bool:
    """True when the element carries nothing but an answer text: an error form we do not know."""
    return bool(content) and all(key in TEXT_KEYS for key in content)
