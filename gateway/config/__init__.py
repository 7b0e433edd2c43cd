"""Settings: read from the environment (``MPP_*``) once, at the composition root, and what each installed adapter
needs configured."""

from __future__ import annotations

from ._adapters import check_adapter_settings, log_adapters_not_loaded, missing_settings, placeholder_settings
from ._settings import AgencyConfig, Settings, agency_values, read_env_file

__all__ = [
    "AgencyConfig",
    "Settings",
    "agency_values",
    "check_adapter_settings",
    "log_adapters_not_loaded",
    "missing_settings",
    "placeholder_settings",
    "read_env_file",
]
