"""VClaim's ``metaData.code`` values, as a table, and the functions that turn a code into our error classes.

VClaim answers business outcomes with HTTP 200 and ``{"metaData": {"code": "...", "message": "..."}, ...}``.
``"200"`` is success; ``"201"`` is "no data or a business failure" with ``response: null``: for a participant
lookup that is a participant BPJS does not know (unknown card, unknown or malformed NIK). Both are documented.

How the real service refuses a bad signature, a stale timestamp or a wrong ``user_key`` is not published. The
mock answers them, in VClaim's own style, with a plain error envelope and the codes below, marked *modelled*.
Whatever the exact code, such an answer means the gateway's credentials or clock are wrong: no retry helps, so
it is :class:`~adapters.AgencyMisconfigured`, and so is any code the table does not know (a human must place it:
guessing could turn an outage into "participant not found").

The agency's ``message`` is never copied into our details: it is free Indonesian text and may name the citizen.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

from adapters import AgencyError, AgencyMisconfigured, AgencyRejected, ProblemType
from contracts import LocalizedText

__all__ = [
    "AGENCY",
    "DOCUMENTED_CODES",
    "META_CODES",
    "NOT_FOUND_CODE",
    "NOT_FOUND_SLUG",
    "PROBLEM_TYPES",
    "SUCCESS_CODE",
    "CodeEntry",
    "classify",
    "raise_for_code",
]

AGENCY = "bpjs-kesehatan"
SUCCESS_CODE = "200"
NOT_FOUND_CODE = "201"
NOT_FOUND_SLUG = "bpjs-participant-not-found"


class CodeEntry(NamedTuple):
    """What one ``metaData.code`` means to us."""

    #: The class to raise, or ``None`` for a success.
    error: type[AgencyError] | None
    #: The problem type slug of an :class:`~adapters.AgencyRejected`; ``None`` for the other classes.
    slug: str | None
    #: English, free of personal data: safe for problem details, logs and dashboards.
    detail: str
    #: ``False`` for codes this project modelled because BPJS publishes none.
    documented: bool = True


#: The problem types of BPJS Kesehatan's rejections, served by the gateway at ``/problems/<slug>``.
PROBLEM_TYPES: tuple[ProblemType, ...] = (
    ProblemType(
        NOT_FOUND_SLUG,
        422,
        LocalizedText(id="Peserta BPJS Kesehatan tidak ditemukan", en="BPJS Kesehatan participant not found"),
        "BPJS Kesehatan has no participant for this NIK or card number (VClaim metaData code 201: no data).",
    ),
)

META_CODES: Mapping[str, CodeEntry] = {
    SUCCESS_CODE: CodeEntry(None, None, "OK"),
    NOT_FOUND_CODE: CodeEntry(
        AgencyRejected, NOT_FOUND_SLUG, "BPJS Kesehatan found no participant for this number on that service date"
    ),
    # Modelled: the refusals of the gateway's own credentials and clock.
    "401": CodeEntry(
        AgencyMisconfigured,
        None,
        "BPJS Kesehatan refused the signature: check cons_id and consumer_secret",
        documented=False,
    ),
    "403": CodeEntry(
        AgencyMisconfigured,
        None,
        "BPJS Kesehatan refused the user_key: check that it is the VClaim key of this cons_id",
        documented=False,
    ),
    "408": CodeEntry(
        AgencyMisconfigured,
        None,
        "BPJS Kesehatan refused the X-timestamp as out of its window: check the gateway's clock (NTP)",
        documented=False,
    ),
}
"""Every ``metaData.code`` known, as a string, mapped to our class, slug and English detail."""

DOCUMENTED_CODES: tuple[str, ...] = tuple(META_CODES)
"""The codes the conformance kit is told about: the documented ones and those this project models."""

# An unknown code is echoed into the detail for operations only if it looks like a code: it is free text as far
# as we are concerned, and a detail must stay short and safe to log.
_CODE_SHAPE = re.compile(r"^[0-9A-Za-z_-]{1,8}$")


def classify(code: str) -> type[AgencyError] | None:
    """The class raised for ``code``, ``None`` for success; unknown codes are misconfigured."""
    entry = META_CODES.get(code)
    return AgencyMisconfigured if entry is None else entry.error


def raise_for_code(code: str) -> None:
    """Return quietly for ``"200"``; raise the classified error that any other ``metaData.code`` stands for."""
    entry = META_CODES.get(code)
    if entry is None:
        safe = code if _CODE_SHAPE.match(code) else None
        raise AgencyMisconfigured(
            f"BPJS Kesehatan answered with unknown metaData code {safe or '(malformed)'}: "
            "add it to the adapter's table",
            agency=AGENCY,
            code=safe,
        )
    if entry.error is None:
        return
    detail = f"{entry.detail} (metaData code {code})"
    if entry.error is AgencyRejected:
        raise AgencyRejected(detail, agency=AGENCY, code=code, slug=entry.slug or "agency-rejected")
    raise entry.error(detail, agency=AGENCY, code=code)
