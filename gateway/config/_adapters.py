"""What each installed adapter needs configured, said before anything starts.

An adapter names the settings it cannot start without (``REQUIRED_SETTINGS`` beside its class, else the sample
settings of its conformance profile). The gateway checks every loaded adapter at once and refuses to start with one
message listing every variable still to set, secrets marked, and the package that installed each adapter; adapters
left out by ``MPP_ADAPTERS`` get an ``adapter.not_loaded`` line naming theirs. :func:`placeholder_settings` builds
adapters without credentials, to describe their services.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

import structlog

from adapters import ENTRY_POINT_GROUP, AdapterFactory

from ._settings import AgencyConfig, Settings

__all__ = ["check_adapter_settings", "log_adapters_not_loaded", "missing_settings", "placeholder_settings"]


def check_adapter_settings(settings: Settings, factories: Mapping[str, AdapterFactory]) -> None:
    """Raise :class:`ValueError` naming every variable each of ``factories`` still needs, before any is built."""
    missing = {agency: needs for agency, f in factories.items() if (needs := missing_settings(settings, agency, f))}
    if missing:
        configured = [agency for agency in factories if agency not in missing]
        raise ValueError(_not_configured(missing, settings, configured))


def _sample_settings(factory: object) -> dict[str, str]:
    """The fake but well-formed settings an adapter package publishes in its conformance profile, if any."""
    try:
        # The package the factory lives in: the module itself when defined in a package's __init__.
        package = importlib.import_module(factory.__module__).__package__
        profile = importlib.import_module(f"{package}.conformance").PROFILE
    except (ImportError, AttributeError):
        return {}
    return {str(k): str(v) for k, v in profile.settings.items()}


def _declared_settings(factory: object) -> tuple[tuple[str, ...], frozenset[str]]:
    """The settings an adapter package says it cannot start without, and those that are secret.

    The names are ``REQUIRED_SETTINGS`` beside the adapter class (what it hands ``adapters.require_settings``), or
    else the keys of its conformance profile's sample settings; secrets are the profile's ``secret_settings``.
    Nothing is known of a factory that is neither (a test's lambda): then only ``base_url`` is checked.
    """
    module_name = getattr(factory, "__module__", None)
    if not isinstance(module_name, str):
        return (), frozenset()
    try:
        module = importlib.import_module(module_name)
        package = module.__package__ or module_name
        required = getattr(module, "REQUIRED_SETTINGS", None) or getattr(
            importlib.import_module(package), "REQUIRED_SETTINGS", None
        )
    except Exception:  # an adapter's module that cannot be read leaves its own error to its construction
        return (), frozenset()
    try:
        profile = importlib.import_module(f"{package}.conformance").PROFILE
        sample, secret = tuple(map(str, profile.settings)), frozenset(map(str, profile.secret_settings))
    except Exception:  # no profile, or the kit's test dependencies are not installed here
        sample, secret = (), frozenset()
    names = tuple(map(str, required)) if isinstance(required, tuple | list) else sample
    return tuple(name for name in names if name != "base_url"), secret


def _variable(agency: str, name: str) -> str:
    return f"MPP_AGENCY__{agency.upper().replace('-', '_')}__{name.upper()}"


def missing_settings(settings: Settings, agency: str, factory: object) -> list[str]:
    """The variables ``agency`` still needs (``base_url`` first), secrets marked: empty when it is configured."""
    config = settings.agencies.get(agency)
    required, secret = _declared_settings(factory)
    values = config.adapter_settings if config is not None else {}
    needs = [] if config is not None and config.base_url else [_variable(agency, "base_url")]
    for name in required:
        if not str(values.get(name, "")).strip():
            needs.append(_variable(agency, name) + (" (secret)" if name in secret else ""))
    return needs


def _distributions() -> dict[str, str]:
    """The distribution that installed each adapter entry point, by agency."""
    return {ep.name: ep.dist.name for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.dist is not None}


def _not_configured(missing: Mapping[str, list[str]], settings: Settings, configured: list[str]) -> str:
    """Why the gateway cannot start: each unconfigured adapter with every variable to set, and the way out."""
    origin = _distributions()
    count = f"{len(missing)} adapters have" if len(missing) > 1 else "an installed adapter has"
    lines = [f"{count} no settings; set:"]
    for agency, needs in sorted(missing.items()):
        installed_by = f" (installed by {origin[agency]})" if agency in origin else ""
        lines.append(f"  {agency}{installed_by}: {', '.join(needs)}")
    lines.append("  (a secret may instead come from a file: <VARIABLE>_FILE=/path/to/file)")
    if settings.adapters is not None:
        lines.append(f"or leave them out of MPP_ADAPTERS (now {','.join(settings.adapters)})")
    elif configured:
        lines.append(f"or load only the configured ones: MPP_ADAPTERS={','.join(sorted(configured))}")
    else:
        lines.append("or choose the adapters to load: MPP_ADAPTERS=<agency>,<agency>")
    return "\n".join(lines)


def log_adapters_not_loaded(settings: Settings, loaded: set[str]) -> None:
    """Say which installed adapters ``MPP_ADAPTERS`` (or the demo) left out, and what each would need."""
    log = structlog.get_logger("gateway")
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
        if ep.name in loaded:
            continue
        try:
            needs = missing_settings(settings, ep.name, ep.load())
        except Exception:  # a broken package that is not loaded anyway must not stop the gateway
            needs = []
        log.info(
            "adapter.not_loaded",
            agency=ep.name,
            reason="not in MPP_ADAPTERS" if not needs else "no settings",
            settings_to_set=", ".join(needs) or None,
        )


def placeholder_settings(
    agencies: list[str], factories: Mapping[str, AdapterFactory] | None = None
) -> Settings:
    """Settings that let adapters be built without credentials, to describe their services (``openapi``).

    An adapter that checks the form of its settings gets the samples of its conformance profile; any other
    setting it asks for reads as a placeholder.
    """
    values = {"base_url": "http://127.0.0.1:9"}

    class _Any(dict[str, str]):
        def __missing__(self, key: str) -> str:
            return "unset"

        def get(self, key: str, default: Any = None) -> Any:
            return super().get(key, "unset")

        def __contains__(self, key: object) -> bool:
            return True

    samples = {a: _sample_settings(f) for a, f in (factories or {}).items()}
    return Settings(
        agencies={
            a: AgencyConfig(base_url=values["base_url"], adapter_settings=_Any(samples.get(a, {}))) for a in agencies
        }
    )
