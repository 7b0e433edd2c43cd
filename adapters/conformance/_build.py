"""Building an adapter from its profile the way the gateway's composition root does, pointed where the kit says."""

from __future__ import annotations

import time
import urllib.parse
from typing import Any

import httpx
from pydantic import ValidationError

from .._base import Adapter, AdapterContext, Call, Service
from .._http import AgencyHttp
from ._profile import ConformanceProfile, SampleCall

__all__ = ["base_path", "build_adapter", "make_call", "offline_http", "secret_values", "validation_summary"]

# Only used to read an adapter's catalog; nothing is sent, and if something were, it would be refused.
_OFFLINE_URL = "http://127.0.0.1:9"
_CALL_DEADLINE_S = 30.0


def base_path(profile: ConformanceProfile) -> str:
    """The path prefix of the agency's API: the profile's ``base_path``, else the path of its ``base_url``."""
    if profile.base_path is not None:
        path = profile.base_path
    else:
        path = urllib.parse.urlsplit(profile.settings.get("base_url", "")).path
    path = path.rstrip("/")
    return path if not path or path.startswith("/") else "/" + path


def build_adapter(profile: ConformanceProfile, http: AgencyHttp) -> Adapter:
    """The adapter built from ``profile`` with ``http``; a ``base_url`` setting is pointed at ``http`` too.

    Adapters should use ``context.http`` alone, but one that reads ``settings["base_url"]`` must still end up at
    the kit's servers, never at a real agency.
    """
    settings = dict(profile.settings)
    if "base_url" in settings:
        settings["base_url"] = http.base_url
    return profile.factory(AdapterContext(http=http, settings=settings))


def offline_http(agency: str, profile: ConformanceProfile) -> AgencyHttp:
    """An :class:`AgencyHttp` that refuses every request without touching the network."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("the conformance catalog check sends nothing", request=request)

    return AgencyHttp(httpx.MockTransport(refuse), agency=agency, base_url=_OFFLINE_URL + base_path(profile))


def make_call(sample: SampleCall, service: Service[Any, Any], number: int) -> Call:
    """The :class:`Call` the dispatcher would build for ``sample``; raises ``ValidationError`` on a bad payload."""
    payload = service.payload_model.model_validate(dict(sample.payload))
    return Call(
        request_id=f"req_conformance_{number:04d}",
        service=sample.service,
        nik=sample.nik,
        payload=payload,
        reference=sample.reference,
        attempt=1,
        deadline=time.monotonic() + _CALL_DEADLINE_S,
    )


def secret_values(profile: ConformanceProfile) -> dict[str, str]:
    """The values of the profile's secret settings, by name; names without a value are left out."""
    return {name: profile.settings[name] for name in profile.secret_settings if profile.settings.get(name)}


def validation_summary(exc: ValidationError) -> str:
    """The fields and rules a payload broke, without the values (sample payloads may hold synthetic people)."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    return "; ".join(f"{'.'.join(map(str, error['loc'])) or '(payload)'}: {error['msg']}" for error in errors)
