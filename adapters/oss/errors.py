"""OSS RBA's ``kode`` table and the one function that turns a reply envelope into our error classes.

Every OSS reply carries ``kode`` (the guide types it ``string(3)``, its examples send a number) and a free-text
``keterangan``. The text is Indonesian, differs between methods and deployments, and is never copied into our
messages: details are English and carry the code. The text is only *read* for one decision the code cannot make:
whether a 400 means "no such record" or "bad data" (``oss-data-not-found`` versus ``oss-invalid-data``).

A 400 for a request that left out a field the guide marks required comes, in the guide's own example, as
``{"kode": 400, "keterangan": "parameter tidak ditemukan", "meta": [{"message": "nib is required", "field":
"nib"}]}``: that is bad data (our request), never "not found", and the detail names the fields ``meta`` lists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from adapters import (
    AgencyError,
    AgencyMisconfigured,
    AgencyProtocolError,
    AgencyRejected,
    ProblemType,
    TransientAgencyError,
)
from contracts import LocalizedText

__all__ = [
    "DATA_NOT_FOUND",
    "INVALID_DATA",
    "KODES",
    "PROBLEM_TYPES",
    "CodeEntry",
    "classify",
    "kode_of",
    "missing_fields",
    "raise_for_reply",
    "rejection_slug",
]

AGENCY = "oss"
DATA_NOT_FOUND = "oss-data-not-found"
INVALID_DATA = "oss-invalid-data"


class CodeEntry(NamedTuple):
    """What one ``kode`` means to us."""

    #: The class to raise, or ``None`` for a success.
    error: type[AgencyError] | None
    #: English, free of personal data: safe for problem details, logs and dashboards.
    detail: str


#: The problem types of OSS's rejections, served by the gateway at ``/problems/<slug>``.
PROBLEM_TYPES: tuple[ProblemType, ...] = (
    ProblemType(
        DATA_NOT_FOUND,
        422,
        LocalizedText(id="Data tidak ditemukan di OSS", en="Not found in OSS"),
        "OSS holds no record for the NIB or permit id given (kode 400).",
    ),
    ProblemType(
        INVALID_DATA,
        422,
        LocalizedText(id="Data ditolak oleh OSS", en="Data refused by OSS"),
        "OSS refused the submitted data as wrong or inconsistent with its records (kode 400).",
    ),
)

KODES: Mapping[str, CodeEntry] = {
    "200": CodeEntry(None, "success"),
    # The only business outcome: the data (an NIB, a permit, a status) is not OSS's or not acceptable.
    "400": CodeEntry(AgencyRejected, "OSS refused the parameter data"),
    # The gateway's access: its user_key, its grants per service, the IP the key is bound to.
    "401": CodeEntry(AgencyMisconfigured, "OSS does not accept the gateway's user_key"),
    "403": CodeEntry(AgencyMisconfigured, "OSS calls the inquiry or access illegal for this user_key"),
    "404": CodeEntry(AgencyMisconfigured, "OSS does not know the service: check the base URL, api_path and method"),
    "405": CodeEntry(AgencyMisconfigured, "OSS refuses this user_key access to the service"),
    # OSS's own trouble: worth another try later.
    "500": CodeEntry(TransientAgencyError, "OSS failed to process the payload"),
    "504": CodeEntry(TransientAgencyError, "OSS timed out processing the payload"),
}
"""Every ``kode`` the guide documents, mapped to our class and an English detail."""

_NOT_FOUND_HINTS = ("tidak ditemukan", "tidak terdaftar", "not found")
_INVALID_HINTS = ("tidak valid", "tidak sesuai", "salah", "wajib", "invalid")
_CODE_SHAPE = re.compile(r"^[0-9]{1,4}$")
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,63}$")
_MALFORMED = "(malformed)"


def kode_of(reply: Mapping[str, Any]) -> str | None:
    """The reply's ``kode`` as text (``200`` and ``" 200"`` are ``"200"``); ``None`` when absent.

    A ``kode`` that is neither an integer nor a string of digits comes back as ``"(malformed)"``.
    """
    raw = reply.get("kode")
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        return _MALFORMED
    code = str(raw).strip()
    return code if _CODE_SHAPE.match(code) else _MALFORMED


def missing_fields(reply: Mapping[str, Any]) -> list[str]:
    """The fields a 400's ``meta`` names as required and missing; only names of a field's shape are kept."""
    meta = reply.get("meta")
    items = meta if isinstance(meta, list) else [meta] if isinstance(meta, Mapping) else []
    fields = (item.get("field") for item in items if isinstance(item, Mapping))
    return [field for field in fields if isinstance(field, str) and _FIELD_NAME.match(field)]


def rejection_slug(reply: Mapping[str, Any], *, submission: bool) -> str:
    """The problem slug of a 400: "not found" or "invalid data", read from the text, else from the call's kind.

    A lookup's identifiers were already checked for format, so its 400 is a missing record unless OSS says
    otherwise; a submission's 400 is refused data unless OSS says it could not find what it refers to.
    """
    if missing_fields(reply):
        return INVALID_DATA
    text = reply.get("keterangan")
    folded = " ".join(text.split()).casefold() if isinstance(text, str) else ""
    if any(hint in folded for hint in _NOT_FOUND_HINTS):
        return DATA_NOT_FOUND
    if any(hint in folded for hint in _INVALID_HINTS):
        return INVALID_DATA
    return INVALID_DATA if submission else DATA_NOT_FOUND


def classify(code: str) -> type[AgencyError] | None:
    """The class ``code`` raises (``None`` for success); unknown codes need a human: misconfigured."""
    entry = KODES.get(code)
    return entry.error if entry is not None else AgencyMisconfigured


def raise_for_reply(reply: Mapping[str, Any], *, method: str, submission: bool) -> None:
    """Raise the classified error the ``respon<method>`` object stands for; return quietly on kode 200.

    A ``respon<method>`` object without ``kode`` is a reply the adapter cannot read:
    :class:`~adapters.AgencyProtocolError`, final. An unknown ``kode`` is
    :class:`~adapters.AgencyMisconfigured`: guessing could turn an outage into "not found". Transient failures
    say ``sent=True``: the call reached OSS, so a submission must be reconciled before it is sent again.
    """
    code = kode_of(reply)
    if code is None:
        raise AgencyProtocolError(
            agency=AGENCY, method=method, field="kode", detail=f"OSS answered {method} without a kode"
        )
    entry = KODES.get(code)
    if entry is None:
        raise AgencyMisconfigured(
            f"OSS answered {method} with unknown kode {code}: add it to the adapter's table",
            agency=AGENCY,
            code=None if code == _MALFORMED else code,
        )
    if entry.error is None:
        return
    detail = f"{entry.detail} (kode {code}, method {method})"
    if missing := missing_fields(reply):
        detail += f"; required and missing: {', '.join(missing[:20])}"
    if entry.error is AgencyRejected:
        raise AgencyRejected(detail, agency=AGENCY, code=code, slug=rejection_slug(reply, submission=submission))
    if entry.error is TransientAgencyError:
        raise TransientAgencyError(detail, agency=AGENCY, code=code, sent=True)
    raise entry.error(detail, agency=AGENCY, code=code)
