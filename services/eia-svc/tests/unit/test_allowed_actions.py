"""A filing's `allowed_actions` and what its actions do never disagree:
every action is tried in every (review state, quota state) pair, and it
succeeds exactly when the list names it (no database: the rows are built
in memory and `act` applied to them)."""

from __future__ import annotations

import datetime as dt
import typing

import pytest
from eia_svc.filings import rules, service
from eia_svc.filings.models import FilingRow
from eia_svc.filings.schemas import (
    FilingAcceptIn,
    FilingApproveIn,
    FilingEvaluationDoneIn,
    FilingQuotaRetryIn,
    FilingRejectIn,
    FilingReviewDoneIn,
    FilingWithdrawIn,
)
from eia_svc.quota_saga.rules import LABELS_ZH as QUOTA_STATES
from eia_svc.settings import Settings
from svc_common.errors import Conflict

NOW = dt.datetime(2026, 3, 2, 1, tzinfo=dt.UTC)
BODIES = {
    "accept": FilingAcceptIn(),
    "evaluation-done": FilingEvaluationDoneIn(),
    "review-done": FilingReviewDoneIn(),
    "approve": FilingApproveIn(),
    "reject": FilingRejectIn(reason="不符合要求"),
    "withdraw": FilingWithdrawIn(),
    "quota-retry": FilingQuotaRetryIn(),
}
assert set(BODIES) == {*typing.get_args(rules.Action), "quota-retry"}


def review_states() -> list[rules.ReviewState]:
    """Every review state a channel can be in, decided ones included: a
    filing is submitted normal or bundled, and its acceptance puts it in
    the green channel when the officer confirms its major-project claim."""
    out = []
    for channel in ("normal", "bundled"):
        frontier, seen = [rules.initial_state(channel)], set()
        while frontier:
            st = frontier.pop()
            if st in seen:
                continue
            seen.add(st)
            out.append(st)
            frontier += [rules.apply(st, a) for a in rules.review_steps(st)]
            if "accept" in rules.review_steps(st):
                frontier.append(rules.apply(st, "accept", green=True))
    assert {st.channel for st in out} == {"normal", "green", "bundled"}
    return out


def row(st: rules.ReviewState, quota_status: str) -> FilingRow:
    return FilingRow(
        id="f-1",
        project_name="p",
        uscc="91350100M000100Y43",
        enterprise_name="e",
        district="120119",
        project_type="C3670",
        industry_code="C3670",
        category="report_form",
        channel=st.channel,
        major_project=st.channel == "green",
        park_id="nangang" if st.channel == "bundled" else None,
        vocs_increment_kg=1500,
        status=st.status,
        evaluation_done=st.evaluation_done,
        review_done=st.review_done,
        submitted_by="filer.a",
        submitted_role="filer",
        created_at=NOW,
        updated_at=NOW,
        quota_status=quota_status,
        quota_attempt=1,
        quota_shortfall_kg=500 if quota_status in ("blocked", "lapsed_short") else None,
    )


PAIRS = [(st, q) for st in review_states() for q in QUOTA_STATES]


@pytest.mark.parametrize(("st", "quota_status"), PAIRS)
def test_allowed_actions_are_the_actions_that_succeed(
    st: rules.ReviewState, quota_status: str
) -> None:
    listed = service.allowed_actions(row(st, quota_status))
    for action, body in BODIES.items():
        try:
            f = row(st, quota_status)
            if isinstance(body, FilingAcceptIn) and rules.requests_green_channel(
                f.major_project, f.channel
            ):
                body = FilingAcceptIn(green_channel=True)  # the officer's decision
            service.act(f, body, NOW, Settings())
        except Conflict as exc:
            assert action not in listed, (action, exc.detail)
            # A refusal names what is allowed, as the filing's answer does.
            assert exc.extra["allowed"] in (listed, ["quota-retry"], [])
        else:
            assert action in listed, action


def test_the_pairs_the_tester_found() -> None:
    def listed(channel: str, status: str, quota_status: str, both: bool = False) -> list[str]:
        st = rules.ReviewState(channel, status, both, both)
        return service.allowed_actions(row(st, quota_status))

    assert listed("normal", "accepted", "blocked") == [
        "evaluation-done",
        "quota-retry",
        "withdraw",
    ]
    assert listed("bundled", "accepted", "blocked") == ["reject", "quota-retry", "withdraw"]
    assert listed("normal", "reviewed", "lapsed", True) == ["reject", "quota-retry", "withdraw"]
    assert listed("normal", "approved", "lapsed_short", True) == ["quota-retry"]
    assert listed("normal", "reviewed", "secured", True) == ["approve", "reject", "withdraw"]
    assert listed("normal", "approved", "allocated", True) == []


def test_a_refused_retry_names_its_states_by_code() -> None:
    """Every 409 puts a code in `state`; the words are in the detail."""
    st = rules.ReviewState("normal", "approved", True, True)
    with pytest.raises(Conflict) as exc:
        service.act(row(st, "allocated"), FilingQuotaRetryIn(), NOW, Settings())
    assert exc.value.extra["state"] == "approved"
    assert exc.value.extra["quota_status"] == "allocated"
    assert "allocated" in exc.value.detail and exc.value.extra["allowed"] == []
