"""A consent's validity at a given time: not dated ahead of the clock beyond its skew, not older than its age."""

from __future__ import annotations

import datetime as dt

import pytest

from contracts import Consent

NOW = dt.datetime(2026, 11, 22, 1, 0, tzinfo=dt.UTC)
MAX_AGE = dt.timedelta(hours=12)
SKEW = dt.timedelta(minutes=5)
OLD = "is older than 12 h: take the citizen's consent again for this visit"
AHEAD = "lies in the future: send the time the citizen gave consent"


def consent(given_at: dt.datetime) -> Consent:
    return Consent.model_validate({"method": "written", "reference": "F-1", "given_at": given_at.isoformat()})


@pytest.mark.parametrize(
    "given_at",
    [
        NOW,
        NOW - dt.timedelta(hours=11, minutes=59),
        NOW - MAX_AGE,
        NOW + dt.timedelta(minutes=4),
        NOW + SKEW,
        # the same instant written in the counter's own time zone
        (NOW - dt.timedelta(hours=2)).astimezone(dt.timezone(dt.timedelta(hours=7))),
    ],
    ids=["now", "almost-12h-ago", "exactly-12h-ago", "4min-ahead", "exactly-5min-ahead", "2h-ago-in-wib"],
)
def test_a_consent_within_its_window_is_valid(given_at: dt.datetime) -> None:
    """Given from max_age before now up to skew after it, in any time zone, the consent is valid."""
    assert consent(given_at).invalid_at(NOW, max_age=MAX_AGE, skew=SKEW) is None


@pytest.mark.parametrize(
    ("given_at", "reason"),
    [
        (NOW - MAX_AGE - dt.timedelta(seconds=1), OLD),
        (NOW - dt.timedelta(days=730), OLD),
        (NOW + SKEW + dt.timedelta(seconds=1), AHEAD),
        (NOW + dt.timedelta(days=365), AHEAD),
    ],
    ids=["just-over-12h-ago", "two-years-ago", "just-over-5min-ahead", "next-year"],
)
def test_a_consent_outside_its_window_says_why(given_at: dt.datetime, reason: str) -> None:
    """Older than max_age, or further ahead than the skew, the consent is invalid and the reason says which."""
    assert consent(given_at).invalid_at(NOW, max_age=MAX_AGE, skew=SKEW) == reason


@pytest.mark.parametrize(
    ("max_age", "said"),
    [(dt.timedelta(hours=24), "24 h"), (dt.timedelta(minutes=90), "90 min"), (dt.timedelta(seconds=45), "45 s")],
)
def test_the_reason_states_the_configured_age(max_age: dt.timedelta, said: str) -> None:
    """The refusal names the window in force, as a person says it."""
    reason = consent(NOW - dt.timedelta(days=2)).invalid_at(NOW, max_age=max_age, skew=SKEW)
    assert reason == f"is older than {said}: take the citizen's consent again for this visit"


def test_a_consent_is_still_a_valid_contract_value_whenever_it_was_given() -> None:
    """Validity is a question of when it is asked: the model itself accepts any aware time, so stored requests load."""
    assert consent(NOW - dt.timedelta(days=3650)).given_at == NOW - dt.timedelta(days=3650)
