"""adapters.oss.conformance: the profile passes the kit's catalog and error-table checks."""

from __future__ import annotations

from adapters.conformance import check_catalog, check_error_table
from adapters.oss import SERVICES, OssAdapter
from adapters.oss.conformance import DOCUMENTED_CODES, PROFILE
from adapters.oss.errors import KODES


def test_profile_covers_every_service_and_documented_code() -> None:
    """The profile builds the adapter, samples all five services and lists every kode of the guide."""
    assert PROFILE.factory is OssAdapter
    assert [sample.service for sample in PROFILE.samples] == [service.id for service in SERVICES]
    assert set(DOCUMENTED_CODES) == set(KODES) == {"200", "400", "401", "403", "404", "405", "500", "504"}
    assert PROFILE.secret_settings == ("user_key",)


def test_catalog_check_passes() -> None:
    """The kit finds nothing wrong with the catalog, the samples or the problem types."""
    assert check_catalog(PROFILE).failures == ()


def test_error_table_check_passes() -> None:
    """The kit finds every documented kode mapped to success or one of the four outcome classes."""
    assert check_error_table(PROFILE).failures == ()
