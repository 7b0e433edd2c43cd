"""Settings: read from the environment (``MPP_*``) once, at the composition root."""

from __future__ import annotations

from ._settings import AgencyConfig, Settings, agency_values, read_env_file

__all__ = [
    "AgencyConfig",
    "Settings",
    "agency_values",
    "read_env_file",
]
