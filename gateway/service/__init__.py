"""The gateway's use cases, free of HTTP: accepting a service request and reading one back.

The HTTP handlers parse the call (body, headers) into a :class:`Submission`, hand it to :class:`Acceptance`, and
render what comes back; every rule about who may ask what, consent, idempotency and open circuits lives here, so it
is tested by calling it.
"""

from __future__ import annotations

from ._acceptance import Acceptance, Accepted, StepSubmission, Submission, field_errors

__all__ = ["Acceptance", "Accepted", "StepSubmission", "Submission", "field_errors"]
