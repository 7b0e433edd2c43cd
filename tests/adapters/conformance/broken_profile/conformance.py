"""A profile module with a dependency that is not installed."""

import mpp_conformance_missing_dependency  # noqa: F401 - the point: this import fails

PROFILE = None
