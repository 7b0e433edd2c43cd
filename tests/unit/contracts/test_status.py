"""The request status machine."""

from __future__ import annotations

from contracts import TRANSITIONS, RequestStatus


def test_final_states_have_no_way_out() -> None:
    """completed, rejected and failed are final and allow no transition."""
    for status in RequestStatus:
        assert status.final == (TRANSITIONS[status] == frozenset())
    assert {s for s in RequestStatus if s.final} == {
        RequestStatus.COMPLETED,
        RequestStatus.REJECTED,
        RequestStatus.FAILED,
    }


def test_every_state_is_reachable_from_accepted() -> None:
    """Every status can be reached from accepted."""
    seen = {RequestStatus.ACCEPTED}
    frontier = [RequestStatus.ACCEPTED]
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    assert seen == set(RequestStatus)
