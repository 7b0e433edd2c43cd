"""OSS RBA identifier formats and code lists, as the integration guide (PIA OSS RBA v4.3) fixes them.

The identifiers are pydantic types, so a payload that breaks a format is refused by the gateway before anything
reaches OSS. The code lists map OSS's two-digit codes to English labels for our results; they are data, and a code
missing here is passed through as a code with no label rather than refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import StringConstraints

__all__ = [
    "BUSINESS_SCALES",
    "COMPANY_TYPES",
    "INVESTMENT_STATUSES",
    "NIB_ACTIVE",
    "NIB_STATUSES",
    "PERMIT_STATUSES",
    "RISK_LEVELS",
    "Kbli",
    "Nib",
    "OssId",
    "PermitCode",
    "PermitId",
    "PermitStatusCode",
    "ProjectId",
    "RegionCode",
    "RiskCode",
    "ScaleCode",
    "normalise_kbli",
    "normalise_risk",
]

Nib = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{13}$")]
"""Nomor Induk Berusaha: 13 digits."""
OssId = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9-]{25}$")]
"""The id OSS issues with an NIB application: 25 characters, e.g. ``P02-`` and 21 digits."""
PermitId = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^I-[0-9]{21}$")]
"""``id_izin``: ``I-`` and 21 digits."""
ProjectId = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^R-[0-9]{21}$")]
"""``id_proyek``: ``R-`` and 21 digits."""
PermitCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{12}$")]
"""``kd_izin``: the permit type code of the issuing agency, 12 digits."""
Kbli = Annotated[str, StringConstraints(pattern=r"^[0-9]{5}$")]
"""A KBLI 2020 code: five digits, a string because leading zeros matter (``01112``)."""
RegionCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{2,10}$")]
"""``kd_daerah``: a Permendagri region code (``32``, ``3273``, ``3201000000``)."""

PermitStatusCode = Literal[
    "05", "10", "11", "20", "30", "31", "32", "33", "34", "40", "45", "50", "52", "57", "58", "90", "93"
]
"""``kd_status`` / ``status_izin`` values this adapter sends (the guide's list is longer and not public in full)."""

PERMIT_STATUSES: Mapping[str, str] = {
    "05": "screening",
    "10": "documents complete",
    "11": "documents incomplete",
    "20": "validation",
    "30": "payment: billing issued",
    "31": "payment: step 2",
    "32": "payment: step 3",
    "33": "payment: step 4",
    "34": "payment: step 5",
    "40": "inspection",
    "45": "requirements verified",
    "50": "approved",
    "52": "issued temporarily",
    "57": "approved automatically (deemed approval)",
    "58": "issued (standard certificate verified)",
    "90": "rejected",
    "93": "requirements rejected",
}
"""Permit status code -> English label. 30-34 are payment steps whose individual meaning the guide does not give."""

ScaleCode = Literal["01", "02", "03", "04"]
BUSINESS_SCALES: Mapping[str, str] = {"01": "micro", "02": "small", "03": "medium", "04": "large"}
"""``skala_usaha``."""

RiskCode = Literal["R", "MR", "MT", "T"]
RISK_LEVELS: Mapping[str, str] = {"R": "low", "MR": "medium-low", "MT": "medium-high", "T": "high"}
"""``skala_resiko``: inferred from PP 5/2021; R needs only the NIB, MR a self-declared standard certificate, MT a
verified one, T a licence."""

COMPANY_TYPES: Mapping[str, str] = {"01": "PT", "02": "CV", "26": "PT Perorangan", "28": "BUM Desa"}
"""``jenis_perseroan`` (Lampiran 2), the codes the guide's excerpts name; others keep their code and no label."""

INVESTMENT_STATUSES: Mapping[str, str] = {"01": "PMA", "02": "PMDN"}
"""``status_penanaman_modal``: foreign (PMA) or domestic (PMDN) investment."""

NIB_ACTIVE = "01"
NIB_STATUSES: Mapping[str, str] = {"01": "active", "06": "revoked"}
"""``status_nib`` (Lampiran 14): only the two ends of the list are known here."""

# Some deployments spell the risk out in Indonesian instead of the code (the guide types it as string(50)).
_RISK_WORDS = {"RENDAH": "R", "MENENGAH RENDAH": "MR", "MENENGAH TINGGI": "MT", "TINGGI": "T"}
_DIGITS = re.compile(r"^[0-9]{1,5}$")


def normalise_kbli(value: object) -> str | None:
    """A KBLI code as its five-character string, or ``None`` when the value is not a KBLI code.

    The guide types ``kbli`` as a number in places, so ``1112`` (a number, or digits that lost their zero) becomes
    ``"01112"``: every KBLI 2020 code has exactly five digits, so padding restores it.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    return text.zfill(5) if _DIGITS.match(text) else None


def normalise_risk(value: object) -> str | None:
    """``R``/``MR``/``MT``/``T`` from a code or its Indonesian name, any case; ``None`` otherwise."""
    if not isinstance(value, str):
        return None
    text = " ".join(value.upper().split())
    if text in RISK_LEVELS:
        return text
    return _RISK_WORDS.get(text)
