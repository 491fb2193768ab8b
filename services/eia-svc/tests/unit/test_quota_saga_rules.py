"""The filing's quota state: replies, stale attempts, lapses and retries."""

from __future__ import annotations

import datetime as dt
import typing
from dataclasses import replace

import pytest
from eia_svc.quota_saga.rules import (
    QuotaState,
    check_approvable,
    filing_id_of,
    may_retry,
    needs_release,
    on_allocated,
    on_rejected,
    on_released,
    on_request,
    on_reserved,
    project_ref,
    quota_note,
    reask_due,
    retry,
)
from svc_common import i18n
from svc_common.errors import Conflict, IllegalTransition


def test_project_ref_round_trip() -> None:
    assert project_ref("abc") == "eia:abc"
    assert filing_id_of(project_ref("abc")) == "abc"
    assert filing_id_of("permit:xyz") is None


def test_request_only_with_an_increment() -> None:
    assert on_request(0).status == "not_required"
    assert on_request(1) == QuotaState("pending", 1)


def test_secured_then_allocated() -> None:
    st = on_reserved(on_request(1500), 1, "res-1", undecided=True)
    assert st.status == "secured" and st.reservation_id == "res-1"
    check_approvable(st)
    assert on_allocated(st, 3000).allocated_kg == 3000


def test_blocked_with_shortfall_cannot_be_approved_until_retry_secures() -> None:
    blocked = on_rejected(on_request(1500), 1, 1200, undecided=True)
    assert blocked.status == "blocked" and blocked.shortfall_kg == 1200
    with pytest.raises(Conflict) as exc:
        check_approvable(blocked)
    assert exc.value.extra["allowed"] == ["quota-retry"]
    again = retry(blocked, "accepted", ["evaluation-done", "withdraw"])
    assert again == QuotaState("pending", 2)
    # A late reply to attempt 1 does not touch attempt 2.
    assert on_rejected(again, 1, 999, undecided=True) == again
    assert on_reserved(again, 1, "res-old", undecided=True) == again
    assert on_reserved(again, 2, "res-2", undecided=True).status == "secured"


def test_expired_hold_lapses_and_can_be_retried() -> None:
    secured = on_reserved(on_request(10), 1, "res-1", undecided=True)
    lapsed = on_released(secured, "res-1", "expired")
    assert lapsed.status == "lapsed"
    with pytest.raises(Conflict):
        check_approvable(lapsed)
    assert retry(lapsed, "reviewed", []).attempt == 2
    # The release of some other hold changes nothing.
    assert on_released(secured, "res-other", "expired") == secured


def test_retry_refused_unless_blocked_or_lapsed() -> None:
    with pytest.raises(IllegalTransition) as exc:
        retry(QuotaState("secured", 1, "r"), "reviewed", ["approve", "reject", "withdraw"])
    assert exc.value.extra["allowed"] == ["approve", "reject", "withdraw"]
    with pytest.raises(IllegalTransition):
        retry(QuotaState("blocked", 1), "withdrawn", [])


def test_a_refused_retry_names_the_states_and_actions_in_chinese() -> None:
    from svc_common.i18n import use

    with use("zh"), pytest.raises(IllegalTransition) as refused:
        retry(QuotaState("secured", 1, "r"), "reviewed", ["approve", "reject", "withdraw"])
    assert refused.value.detail == (
        "环评文件当前为 已审查（reviewed），总量状态 总量已落实（secured），"
        "不能执行 重新申请总量（quota-retry）；"
        "现在可执行：批准（approve）、不予批准（reject）、撤回（withdraw）"
    )
    with use("en"), pytest.raises(IllegalTransition) as english:
        retry(QuotaState("secured", 1, "r"), "reviewed", ["approve", "reject", "withdraw"])
    assert english.value.detail == (
        "the action 'quota-retry' is not allowed while the filing is reviewed with quota "
        "secured; "
        "allowed now: approve, reject, withdraw"
    )


def test_every_quota_state_has_a_chinese_name() -> None:
    from eia_svc.filings.schemas import QuotaStatus
    from eia_svc.quota_saga.rules import LABELS_ZH

    assert set(typing.get_args(QuotaStatus)) <= set(LABELS_ZH)


def test_replies_after_a_decision_settle_the_filing() -> None:
    pending = on_request(10)
    # A late hold leaves the state to the release it triggers (needs_release).
    assert on_reserved(pending, 1, "r", undecided=False) == pending
    assert needs_release(pending, undecided=False)
    assert not needs_release(pending, undecided=True)
    # A late refusal settles it at once: nothing is held, nothing is waited for.
    settled = on_rejected(pending, 1, 5, undecided=False)
    assert settled.status == "released" and settled.shortfall_kg == 5
    # …but an older attempt's refusal does not.
    assert on_rejected(replace(pending, attempt=2), 1, 5, undecided=False).status == "pending"


def test_reask_is_due_only_for_undecided_pending_requests_past_the_wait() -> None:
    t0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    wait = dt.timedelta(minutes=2)
    pending = on_request(10)
    assert not reask_due(pending, True, t0, t0 + wait / 2, wait)
    assert reask_due(pending, True, t0, t0 + wait, wait)
    assert reask_due(pending, True, None, t0, wait)
    assert not reask_due(pending, False, t0, t0 + wait * 10, wait)
    secured = on_reserved(pending, 1, "r", undecided=True)
    assert not reask_due(secured, True, t0, t0 + wait * 10, wait)


def test_repeated_reply_is_a_no_op() -> None:
    st = on_reserved(on_request(10), 1, "r", undecided=True)
    assert on_reserved(st, 1, "r", undecided=True) == st
    assert on_allocated(on_allocated(st, 20), 20) == on_allocated(st, 20)


def test_an_approval_allocated_on_a_renewed_hold_names_it() -> None:
    """Approved while secured, the hold lapsed on the way to quota-svc, which
    held the need again and allocated it: the filing ends allocated, naming
    the reservation that holds its quota, not the lapsed one."""
    st = on_reserved(on_request(1500), 1, "res-1", undecided=True)
    lapsed = on_released(st, "res-1", "expired")
    assert lapsed.status == "lapsed"
    assert on_reserved(lapsed, 1, "res-2", undecided=False) == lapsed
    done = on_allocated(lapsed, 3000, "res-2")
    assert (done.status, done.allocated_kg, done.reservation_id) == ("allocated", 3000, "res-2")
    assert on_allocated(st, 3000).reservation_id == "res-1"


def test_an_unapprovable_filing_names_its_quota_state_in_chinese() -> None:
    blocked = on_rejected(on_request(1500), 1, 1200, undecided=True)
    with i18n.use("zh"), pytest.raises(Conflict) as exc:
        check_approvable(blocked)
    assert "状态为 总量不足（blocked），尚未落实" in str(exc.value.detail)


def _lapsed_short() -> QuotaState:
    """Approved while secured; the hold lapsed before the approval reached
    the ledger, and the district could not hold the need again."""
    secured = on_reserved(on_request(1500), 1, "res-1", undecided=True)
    lapsed = on_released(secured, "res-1", "expired")
    return on_rejected(lapsed, 1, 1200, undecided=False, approved=True)


def test_an_approved_filing_refused_on_its_lapsed_hold_is_lapsed_short() -> None:
    """quota-svc's refusal of an approved filing's renewed hold was dropped
    (the filing was not pending): it showed "lapsed" with no shortfall and
    nothing to do. Now it is lapsed short, with the shortfall."""
    st = _lapsed_short()
    assert (st.status, st.shortfall_kg, st.attempt) == ("lapsed_short", 1200, 1)
    # Whichever arrives first, the expiry or the refusal: lapsed short.
    secured = on_reserved(on_request(1500), 1, "res-1", undecided=True)
    assert on_rejected(secured, 1, 1200, undecided=False, approved=True).status == "lapsed_short"
    assert on_released(st, "res-1", "expired") == st
    # A refusal to an older attempt changes nothing.
    assert on_rejected(replace(st, attempt=2, status="pending"), 1, 9, False, True).status == (
        "pending"
    )
    # A rejected or withdrawn filing is still settled, not lapsed short.
    assert on_rejected(on_request(10), 1, 5, undecided=False).status == "released"


@pytest.mark.parametrize(
    ("filing_status", "quota_status", "allowed"),
    [
        ("approved", "lapsed_short", True),
        ("approved", "pending", True),  # a re-drive still unanswered
        ("approved", "allocated", False),
        ("approved", "secured", False),  # the approval is on its way
        ("approved", "lapsed", False),  # the approval holds it again itself
        ("approved", "not_required", False),
        ("approved", "blocked", False),
        ("rejected", "lapsed_short", False),
        ("withdrawn", "blocked", False),
        ("reviewed", "lapsed_short", False),  # only an approved filing lapses short
        ("reviewed", "blocked", True),
        ("accepted", "lapsed", True),
        ("accepted", "secured", False),
    ],
)
def test_which_states_may_be_retried(filing_status: str, quota_status: str, allowed: bool) -> None:
    st = QuotaState(quota_status, 1, None, 1200 if "short" in quota_status else None)
    assert may_retry(st, filing_status) is allowed
    if allowed:
        assert retry(st, filing_status, []).status == "pending"
    else:
        with pytest.raises(IllegalTransition):
            retry(st, filing_status, [])


def test_a_lapsed_short_filing_is_redriven_and_allocated_or_short_again() -> None:
    st = _lapsed_short()
    redrive = retry(st, "approved", [])
    assert redrive == QuotaState("pending", 2)
    # quota-svc holds and allocates in one step: the filing is allocated.
    done = on_allocated(redrive, 3000, "res-2")
    assert (done.status, done.allocated_kg, done.reservation_id) == ("allocated", 3000, "res-2")
    # Still short: lapsed short again, with the new shortfall, retryable later.
    again = on_rejected(redrive, 2, 700, undecided=False, approved=True)
    assert (again.status, again.shortfall_kg, again.attempt) == ("lapsed_short", 700, 2)
    assert may_retry(again, "approved")
    # The hold quota-svc reports on the way (before allocating) changes nothing.
    assert on_reserved(redrive, 2, "res-2", undecided=False) == redrive


def test_an_approved_redrive_left_unanswered_is_asked_again() -> None:
    t0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    wait = dt.timedelta(minutes=2)
    redrive = retry(_lapsed_short(), "approved", [])
    assert reask_due(redrive, False, t0, t0 + wait, wait, approved=True)
    assert not reask_due(redrive, False, t0, t0 + wait, wait)  # rejected / withdrawn
    assert not reask_due(_lapsed_short(), False, t0, t0 + wait, wait, approved=True)


def test_the_quota_note_says_what_happens_and_what_to_do() -> None:
    st = _lapsed_short()
    with i18n.use("zh"):
        note = quota_note(st, "approved")
        assert note is not None
        assert "缺口 1.200 吨" in note and "重新申请总量（quota-retry）" in note
        assert "第 2 次" in (quota_note(retry(st, "approved", []), "approved") or "")
    with i18n.use("en"):
        note = quota_note(st, "approved")
        assert note is not None and "1.200 t" in note and "quota-retry" in note
    assert quota_note(QuotaState("allocated", 1, "r", None, 3000), "approved") is None
    assert quota_note(QuotaState("secured", 1, "r"), "reviewed") is None


@pytest.mark.parametrize("status, filing", [("blocked", "accepted"), ("lapsed_short", "approved")])
def test_a_park_short_of_quota_is_refilled_by_a_transfer_not_a_reclaim(
    status: str, filing: str
) -> None:
    """A reclaim credits the district's pool, never a park's sub-pool: a
    bundled filing short in its park's sub-pool was told to wait for a
    reclaim, which would never reach it. The district's filing still is."""
    st = QuotaState(status, 1, None, 2000)
    with i18n.use("zh"):
        park = quota_note(st, filing, park="南港工业区") or ""
        district = quota_note(st, filing) or ""
    assert "园区“南港工业区”的总量子池指标不足" in park, park
    assert "待管理员从所在区总量池向园区子池划转指标后，请重新申请总量" in park, park
    assert "收回指标入库" not in park, park
    assert "收回指标入库后请重新申请总量" in district, district
    with i18n.use("en"):
        park = quota_note(st, filing, park="Nangang") or ""
    assert "Once an administrator transfers quota into the park's sub-pool, retry" in park
    assert "reclaimed" not in park, park


def test_an_approval_refused_for_quota_says_how_the_short_pool_is_refilled() -> None:
    """The 409 of an approval whose quota is blocked: in Chinese its hint is
    in full-width brackets (it was "(园区…)"), and a park's sub-pool is
    refilled by a transfer, a district's by a reclaim."""
    blocked = QuotaState("blocked", 1, None, 2000)
    with i18n.use("zh"):
        with pytest.raises(Conflict) as park:
            check_approvable(blocked, park="南港工业区")
        with pytest.raises(Conflict) as district:
            check_approvable(blocked)
    assert park.value.detail.endswith(
        "不能批准（园区“南港工业区”的总量子池指标不足；"
        "待管理员从所在区总量池向园区子池划转指标后，请重新申请（quota-retry））"
    ), park.value.detail
    assert district.value.detail.endswith(
        "（该区总量指标不足；收回指标入库后请重新申请（quota-retry））"
    ), district.value.detail
    with i18n.use("en"), pytest.raises(Conflict) as en:
        check_approvable(blocked, park="Nangang")
    assert en.value.detail.endswith(
        " (the sub-pool of park Nangang lacks quota; once an administrator transfers "
        "quota into the park's sub-pool, retry (quota-retry))"
    ), en.value.detail
