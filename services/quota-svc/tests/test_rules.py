"""Unit tests of the pure rules: no database, no HTTP."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from quota_svc.availability.rules import Availability, check
from quota_svc.ledger import rules
from quota_svc.ledger.rules import Balance, EntryCode, Overdraft
from quota_svc.policy.rules import Policy, Versioned, in_force
from quota_svc.reclaims import rules as reclaim_rules
from quota_svc.reservations.rules import (
    AllocationExceedsHold,
    check_action,
    repeats_allocation,
    split_allocation,
)
from svc_common.errors import Conflict, IllegalTransition


def test_district_codes_are_tianjins_sixteen() -> None:
    assert len(rules.DISTRICTS) == 16
    assert rules.DISTRICTS["120119"] == "蓟州区"
    assert rules.district_problem("120119") is None
    problem = rules.district_problem("110101")  # Beijing 东城区
    assert problem is not None and "110101" in problem


def test_reserve_then_allocate_then_release_moves_the_right_columns() -> None:
    b = rules.post("p", Balance(), EntryCode.BASELINE, 10_000)
    b = rules.post("p", b, EntryCode.RESERVE, 4_000)
    assert (b.credited, b.reserved, b.allocated, b.available) == (10_000, 4_000, 0, 6_000)
    b = rules.post("p", b, EntryCode.ALLOCATE, 3_000)
    b = rules.post("p", b, EntryCode.RELEASE, 1_000)
    assert (b.credited, b.reserved, b.allocated, b.available) == (10_000, 0, 3_000, 7_000)


def test_overdraft_names_the_shortfall() -> None:
    with pytest.raises(Overdraft) as exc:
        rules.post("120119:VOCs", Balance(credited=5_000), EntryCode.RESERVE, 5_001)
    assert exc.value.shortfall_kg == 1
    assert exc.value.available_kg == 5_000
    with pytest.raises(Overdraft):
        rules.post("p", Balance(credited=5_000, reserved=5_000), EntryCode.ADJUSTMENT, -1)


def test_replay_of_entries_is_the_running_balance() -> None:
    entries = [
        (EntryCode.BASELINE, 9_000),
        (EntryCode.RESERVE, 2_000),
        (EntryCode.ALLOCATE, 2_000),
        (EntryCode.TRANSFER, -1_000),
        (EntryCode.EXPIRE, 0),
    ]
    assert rules.replay(entries) == Balance(8_000, 0, 2_000)


def test_need_rounds_up_and_max_increment_rounds_down() -> None:
    assert rules.need_kg(1_000, 200) == 2_000
    assert rules.need_kg(1, 150) == 2  # 1.5 kg → 2 kg: a need is never under-counted
    assert rules.max_increment_kg(2_001, 200) == 1_000
    assert rules.max_increment_kg(-5, 200) == 0


@given(st.integers(0, 10**10), st.integers(1, 10_000))
def test_the_largest_increment_fits_and_one_kg_more_does_not(available: int, ratio: int) -> None:
    m = rules.max_increment_kg(available, ratio)
    assert rules.need_kg(m, ratio) <= available
    assert rules.need_kg(m + 1, ratio) > available


def test_allocation_splits_a_hold_and_never_exceeds_it() -> None:
    assert split_allocation(8_000, None) == (8_000, 0)
    assert split_allocation(8_000, 5_000) == (5_000, 3_000)
    with pytest.raises(AllocationExceedsHold):
        split_allocation(8_000, 8_001)


def test_a_reservation_resolves_at_most_once() -> None:
    check_action("held", "allocate")
    for status in ("allocated", "released", "expired"):
        with pytest.raises(IllegalTransition) as exc:
            check_action(status, "release")
        assert exc.value.status == 409


def test_the_latest_policy_not_after_the_moment_is_in_force() -> None:
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    versions = [
        Versioned(t0, Policy(150, 90)),
        Versioned(t0 + dt.timedelta(days=30), Policy(250, 90)),
    ]
    default = Policy(200, 180)
    assert in_force(versions, t0 - dt.timedelta(days=1), default) == default
    assert in_force(versions, t0 + dt.timedelta(days=1), default).offset_ratio_hundredths == 150
    assert in_force(versions, t0 + dt.timedelta(days=31), default).offset_ratio_hundredths == 250


def test_which_permit_events_are_reclaim_candidates() -> None:
    assert reclaim_rules.is_reclaimable_cancellation("closure", 1)
    assert reclaim_rules.is_reclaimable_cancellation("process_closed", 1)
    assert not reclaim_rules.is_reclaimable_cancellation("merged", 1)
    assert not reclaim_rules.is_reclaimable_cancellation("closure", 0)
    assert reclaim_rules.reclaim_from_change(-3_200) == 3_200
    assert reclaim_rules.reclaim_from_change(500) == 0


def test_four_eyes_for_every_candidate_a_person_gave_rise_to() -> None:
    reclaim_rules.check_four_eyes("permit_cancelled", "system", "system")
    reclaim_rules.check_four_eyes("permit_changed", "system", "officer.wang")
    for source in ("manual", "reduction", "permit_cancelled", "permit_changed"):
        with pytest.raises(Conflict):
            reclaim_rules.check_four_eyes(source, "officer.wang", "officer.wang")
        reclaim_rules.check_four_eyes(source, "officer.wang", "officer.zhao")


def test_every_four_eyes_refusal_names_its_reason() -> None:
    """Each four-eyes refusal is the shared 409 with a machine-readable
    `reason` (an adjustment's and a reclaim's had none)."""
    from collections.abc import Callable

    from quota_svc.adjustments import rules as adjustment_rules
    from quota_svc.swaps import rules as swap_rules
    from quota_svc.trading.models import Trade
    from quota_svc.trading.service import check_four_eyes as check_trade
    from svc_common.auth import Principal

    def reason(call: Callable[..., object], *args: object, **kwargs: object) -> object:
        with pytest.raises(Conflict) as refused:
            call(*args, **kwargs)
        assert refused.value.status == 409
        return refused.value.extra.get("reason")

    wang = "officer.wang"
    assert reason(adjustment_rules.check_four_eyes, wang, wang) == "proposer_decides"
    assert reason(reclaim_rules.check_four_eyes, "manual", wang, wang) == "enterer_decides"
    assert (
        reason(reclaim_rules.check_four_eyes, "permit_cancelled", wang, wang)
        == "permit_officer_decides"
    )
    trade = Trade(status="proposed", proposed_by=wang)
    officer = Principal(wang, "officer", frozenset({"120119"}))
    assert reason(check_trade, trade, officer) == "proposer_approves"
    for proposer, first, expected in (
        (wang, None, "proposer_approves"),
        ("officer.li", wang, "same_approver"),
    ):
        side = {"from_approved_by": first, "to_approved_by": None}
        assert (
            reason(
                swap_rules.approval_side,
                status="proposed",
                approver=wang,
                proposer=proposer,
                may_act_in_from=True,
                may_act_in_to=True,
                **side,
            )
            == expected
        )


def test_four_eyes_reads_one_person_in_any_case_and_width() -> None:
    """Every four-eyes rule of quota-svc compares with same_person: a sub
    in another case or in full-width letters is the same officer."""
    from quota_svc.adjustments import rules as adjustment_rules
    from quota_svc.swaps import rules as swap_rules
    from quota_svc.trading.models import Trade
    from quota_svc.trading.service import check_four_eyes as check_trade
    from svc_common.auth import Principal

    for other in ("Officer.Wang", "OFFICER.WANG", "\uff4ffficer.wang", "officer.wang "):
        with pytest.raises(Conflict):
            reclaim_rules.check_four_eyes("manual", "officer.wang", other)
        with pytest.raises(Conflict):
            adjustment_rules.check_four_eyes("officer.wang", other)
        with pytest.raises(Conflict):
            check_trade(
                Trade(status="proposed", proposed_by="officer.wang"),
                Principal(other, "officer", frozenset({"120119"})),
            )
        for proposer, first in (("officer.wang", None), ("officer.li", "officer.wang")):
            with pytest.raises(Conflict):
                swap_rules.approval_side(
                    status="proposed",
                    approver=other,
                    proposer=proposer,
                    from_approved_by=first,
                    to_approved_by=None,
                    may_act_in_from=True,
                    may_act_in_to=True,
                )
    adjustment_rules.check_four_eyes("officer.wang", "officer.zhao")
    check_trade(
        Trade(status="proposed", proposed_by="officer.wang"),
        Principal("officer.zhao", "officer", frozenset({"120119"})),
    )


def test_what_if_check_and_availability_figures() -> None:
    c = check(increment_kg=3_000, ratio_hundredths=200, available_kg=5_000)
    assert (c.fits, c.required_kg, c.shortfall_kg) == (False, 6_000, 1_000)
    a = Availability(Balance(10_000, 1_000, 2_000), 200, reclaimed_kg=4_000)
    assert a.max_project_increment_kg == 3_500


def test_an_allocation_asked_again_is_recognised_and_nothing_else() -> None:
    assert repeats_allocation("allocated", 5000, 5000, None)  # all, again
    assert repeats_allocation("allocated", 5000, 4000, 4000)  # the same part, again
    assert repeats_allocation("allocated", 5000, 5000, 5000)
    assert not repeats_allocation("allocated", 5000, 4000, None)  # all, after a part
    assert not repeats_allocation("allocated", 5000, 4000, 3000)
    assert not repeats_allocation("held", 5000, 0, None)  # not yet allocated: allocate it
    assert not repeats_allocation("released", 5000, 0, 0)


_KG = st.integers(min_value=0, max_value=10**12)


@given(
    credited=_KG,
    reserved=_KG,
    allocated=_KG,
    reclaimed=_KG,
    debt=_KG,
    overdue=_KG,
    ratio_h=st.integers(min_value=100, max_value=1000),
    park=st.sampled_from([None, "P-1"]),
)
def test_an_availability_row_built_reads_as_the_validated_one(
    credited: int,
    reserved: int,
    allocated: int,
    reclaimed: int,
    debt: int,
    overdue: int,
    ratio_h: int,
    park: str | None,
) -> None:
    """The availability answer builds its rows as plain data; the JSON must
    be what the model, validated from them, gives, byte for byte."""
    from quota_svc.availability.rules import ListedPool
    from quota_svc.availability.schemas import PoolAvailability
    from svc_common.fastjson import dumps_data
    from svc_common.types import kg_to_tonnes

    pool = ListedPool("120119-VOCs", "120119", "VOCs", "district" if not park else "park", park)
    a = Availability(
        Balance(credited + reserved + allocated, reserved, allocated),
        ratio_h,
        reclaimed,
        debt,
        overdue,
    )
    b = a.balance
    validated = PoolAvailability(
        pool_id=pool.id,
        district=pool.district,
        district_name=rules.DISTRICTS[pool.district],
        pollutant=pool.pollutant,
        kind=pool.kind,
        park_id=pool.park_id,
        credited_t=kg_to_tonnes(b.credited),
        reserved_t=kg_to_tonnes(b.reserved),
        allocated_t=kg_to_tonnes(b.allocated),
        available_t=kg_to_tonnes(b.available),
        reclaimed_t=kg_to_tonnes(reclaimed),
        offset_ratio=rules.hundredths_to_ratio(ratio_h),
        max_project_increment_t=kg_to_tonnes(a.max_project_increment_kg),
        debt_t=kg_to_tonnes(debt),
        overdue_debt_t=kg_to_tonnes(overdue),
    )
    assert dumps_data(PoolAvailability.row(pool, a)) == validated.model_dump_json().encode()


@given(kg=st.integers(min_value=-(10**15), max_value=10**15), h=st.integers(0, 10**6))
def test_amounts_written_from_integers_read_as_the_decimals_written(kg: int, h: int) -> None:
    from pydantic import TypeAdapter
    from quota_svc.ledger.rules import hundredths_text, hundredths_to_ratio
    from svc_common.types import TotalTonnes, kg_text, kg_to_tonnes

    assert kg_text(kg) == f"{kg_to_tonnes(kg):.3f}"
    assert Decimal(kg_text(kg)) * 1000 == kg
    assert hundredths_text(h) == f"{hundredths_to_ratio(h):.2f}"
    # Anything but an int (a database sum, say) goes the long way.
    assert hundredths_text(Decimal(h)) == hundredths_text(h)
    assert kg_text(Decimal(kg)) == kg_text(kg)
    if 0 <= kg <= 10**12:
        written = TypeAdapter(TotalTonnes).dump_json(kg_to_tonnes(kg)).decode()
        assert written == f'"{kg_text(kg)}"'


def test_a_refused_step_names_the_state_and_action_in_chinese() -> None:
    """The Chinese 409 said "预留当前为 released，不能执行 allocate；现在可执行：
    无": the codes alone."""
    from quota_svc.adjustments import rules as adjustment_rules
    from quota_svc.reservations.rules import check_action
    from quota_svc.swaps import rules as swap_rules
    from svc_common.i18n import use

    with use("zh"), pytest.raises(IllegalTransition) as refused:
        check_action("released", "allocate")
    assert refused.value.detail == (
        "预留当前为 已释放（released），不能执行 分配（allocate）；现在可执行：无"
    )
    with use("zh"), pytest.raises(IllegalTransition) as swap:
        swap_rules.approval_side(
            status="approved",
            approver="b",
            proposer="a",
            from_approved_by="c",
            to_approved_by="d",
            may_act_in_from=True,
            may_act_in_to=True,
        )
    assert swap.value.detail == (
        "调剂当前为 双方已批准（approved），不能执行 批准（approve）；现在可执行：撤销（cancel）"
    )
    with use("zh"), pytest.raises(IllegalTransition) as reclaim:
        reclaim_rules.check_decision("confirmed", "reject")
    assert reclaim.value.detail == (
        "收回候选当前为 已确认（confirmed），不能执行 驳回（reject）；现在可执行：无"
    )
    with use("zh"), pytest.raises(IllegalTransition) as adjustment:
        adjustment_rules.check_decision("rejected", "approve")
    assert adjustment.value.detail == (
        "人工调整当前为 已驳回（rejected），不能执行 批准（approve）；现在可执行：无"
    )
    with use("en"), pytest.raises(IllegalTransition) as english:
        check_action("released", "allocate")
    assert english.value.detail == (
        "the action 'allocate' is not allowed while the reservation is released; allowed now: none"
    )


def test_every_state_has_a_chinese_name() -> None:
    from quota_svc.adjustments import rules as adjustment_rules
    from quota_svc.reservations import rules as reservation_rules
    from quota_svc.swaps import rules as swap_rules
    from quota_svc.trading import rules as trade_rules

    for states, labels in (
        (reservation_rules.ReservationStatus, reservation_rules.LABELS_ZH),
        (swap_rules.SwapStatus, swap_rules.LABELS_ZH),
        (reclaim_rules.ReclaimStatus, reclaim_rules.LABELS_ZH),
        (adjustment_rules.AdjustmentStatus, adjustment_rules.LABELS_ZH),
        (trade_rules.TradeStatus, trade_rules.LABELS_ZH),
    ):
        assert {s.value for s in states} <= set(labels), states
    held = reservation_rules.ReservationStatus.HELD
    assert set(reservation_rules.ALLOWED[held]) <= set(reservation_rules.LABELS_ZH)


def test_a_park_id_with_a_line_break_after_it_names_no_pool() -> None:
    """`$` matches before a final line break: "P1\\n" named a sub-pool."""
    assert rules.park_pool_id("120119", "VOCs", "P1") == "120119:VOCs:park:P1"
    for bad in ("P1\n", "", "P 1", "P1/2"):
        with pytest.raises(ValueError):
            rules.park_pool_id("120119", "VOCs", bad)
