"""State machines of the three channels and the statutory clocks (限时办结)."""

from __future__ import annotations

import datetime as dt

import pytest
from eia_svc.filings.rules import (
    ClockLimits,
    ReviewState,
    allowed_actions,
    apply,
    channel_for,
    decision_due,
    green_channel_problem,
    green_channel_status,
    initial_state,
    is_overdue,
    last_day,
    major_kind_problem,
)
from hypothesis import given
from hypothesis import strategies as st
from svc_common.errors import IllegalTransition

T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
BEIJING = dt.timezone(dt.timedelta(hours=8))


def run(channel: str, *actions: str) -> ReviewState:
    """The state after `actions`; a green filing is one an officer accepted
    confirming its major-project claim."""
    if channel == "green":
        st = apply(initial_state("normal"), "accept", green=True)
    else:
        st = initial_state(channel)
    for a in actions:
        st = apply(st, a)
    return st


def test_normal_channel_goes_in_order() -> None:
    st = initial_state("normal")
    assert st.status == "submitted" and allowed_actions(st) == ["accept", "withdraw"]
    st = run("normal", "accept", "evaluation-done", "review-done")
    assert st.status == "reviewed" and allowed_actions(st) == ["approve", "reject", "withdraw"]
    assert apply(st, "approve").status == "approved"
    assert apply(st, "reject").status == "rejected"


@pytest.mark.parametrize(
    ("done", "action", "allowed"),
    [
        ((), "evaluation-done", ["accept", "withdraw"]),
        (("accept",), "review-done", ["evaluation-done", "withdraw"]),
        (("accept",), "approve", ["evaluation-done", "withdraw"]),
        (("accept", "evaluation-done"), "approve", ["review-done", "withdraw"]),
        (("accept", "evaluation-done", "review-done", "approve"), "withdraw", []),
        (("withdraw",), "accept", []),
    ],
)
def test_normal_channel_illegal_transitions_name_allowed(
    done: tuple[str, ...], action: str, allowed: list[str]
) -> None:
    with pytest.raises(IllegalTransition) as exc:
        apply(run("normal", *done), action)
    assert exc.value.extra["allowed"] == allowed


@pytest.mark.parametrize(
    "order", [("evaluation-done", "review-done"), ("review-done", "evaluation-done")]
)
def test_green_channel_runs_evaluation_and_review_in_parallel(order: tuple[str, str]) -> None:
    st = run("green")
    assert st.status == "accepted" and st.channel == "green"  # 即受理即评估
    assert "accept" not in allowed_actions(st)
    half = apply(st, order[0])
    assert "approve" not in allowed_actions(half)
    assert allowed_actions(half) == [order[1], "withdraw"]
    both = apply(half, order[1])
    assert both.status == "reviewed" and both.evaluation_done and both.review_done
    assert apply(both, "approve").status == "approved"


def test_green_channel_refuses_decision_before_both_steps() -> None:
    with pytest.raises(IllegalTransition) as exc:
        apply(run("green", "review-done"), "approve")
    assert exc.value.extra["allowed"] == ["evaluation-done", "withdraw"]
    with pytest.raises(IllegalTransition):
        apply(run("green", "evaluation-done"), "evaluation-done")


def test_bundled_channel_is_decided_directly() -> None:
    assert allowed_actions(initial_state("bundled")) == ["accept", "withdraw"]
    st = run("bundled", "accept")
    assert allowed_actions(st) == ["approve", "reject", "withdraw"]
    with pytest.raises(IllegalTransition):
        apply(st, "evaluation-done")
    assert apply(st, "approve").status == "approved"


def test_channel_choice() -> None:
    """A major-project claim never chooses the green channel on submission:
    every filing waits for an officer's acceptance, who decides it."""
    assert channel_for(False) == "normal"
    assert channel_for(True) == "bundled"
    for channel in ("normal", "bundled"):
        assert initial_state(channel).status == "submitted"
    assert apply(initial_state("normal"), "accept", green=True).channel == "green"
    assert apply(initial_state("normal"), "accept").channel == "normal"
    assert apply(initial_state("bundled"), "accept", green=True).channel == "bundled"


def test_green_channel_decided_only_for_a_major_claim() -> None:
    assert green_channel_problem(True, "normal", None) is not None  # must decide
    assert green_channel_problem(True, "normal", False) is None
    assert green_channel_problem(True, "normal", True) is None
    assert green_channel_problem(False, "normal", True) is not None
    assert green_channel_problem(False, "normal", False) is not None
    assert green_channel_problem(False, "normal", None) is None
    assert green_channel_problem(True, "bundled", True) is not None  # the park covers it
    assert green_channel_problem(True, "bundled", None) is None
    assert green_channel_status(True, "normal", accepted=False) == "requested"
    assert green_channel_status(True, "green", accepted=True) == "confirmed"
    assert green_channel_status(True, "normal", accepted=True) == "declined"
    assert green_channel_status(False, "normal", accepted=True) is None
    assert green_channel_status(True, "bundled", accepted=False) is None


def _end_of_beijing_day(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), BEIJING).astimezone(dt.UTC)


def test_statutory_limits_by_channel_and_category() -> None:
    limits = ClockLimits(
        report=60, report_form=30, green_report=20, green_report_form=10, bundled=7
    )
    day = T0.astimezone(BEIJING).date()  # accepted on 2 March, 09:00 in Beijing

    def due(channel: str, category: str) -> dt.datetime:
        return decision_due(T0, channel, category, limits, working_day=lambda d: True)

    assert due("normal", "report") == _end_of_beijing_day(day + dt.timedelta(days=60))
    assert due("normal", "report_form") == _end_of_beijing_day(day + dt.timedelta(days=30))
    assert due("green", "report") == _end_of_beijing_day(day + dt.timedelta(days=20))
    assert due("green", "report_form") == _end_of_beijing_day(day + dt.timedelta(days=10))
    assert due("bundled", "report") == _end_of_beijing_day(day + dt.timedelta(days=7))


def test_a_last_day_off_gives_way_to_the_next_working_day() -> None:
    """民法典 §203: a period whose last day is a day off ends on the day after
    it (the mainland calendar, 调休 included)."""
    limits = ClockLimits()
    # 60 days after 2 March 2026 is 1 May: Labour Day, off until 5 May.
    assert last_day(decision_due(T0, "normal", "report", limits)) == dt.date(2026, 5, 6)
    # 20 days after 2 March is Sunday 22 March.
    assert last_day(decision_due(T0, "green", "report", limits)) == dt.date(2026, 3, 23)
    # 10 days after 29 April is Saturday 9 May, a working day (调休): it stays.
    on_29_april = dt.datetime(2026, 4, 29, 2, 0, tzinfo=dt.UTC)
    assert last_day(decision_due(on_29_april, "green", "report_form", limits)) == dt.date(
        2026, 5, 9
    )


def test_a_deadline_runs_to_the_end_of_its_last_beijing_day() -> None:
    """ "Within 30 days" of an acceptance on 2 March at 09:00 Beijing is met
    all through 1 April, Beijing time (the day of acceptance is not counted,
    the last day ends at 24:00): not at 09:00 on 1 April."""
    limits = ClockLimits()
    due = decision_due(T0, "normal", "report_form", limits)
    assert due == dt.datetime(2026, 4, 2, 0, 0, tzinfo=BEIJING)
    assert last_day(due) == dt.date(2026, 4, 1)  # what the officer reads
    last_minute = dt.datetime(2026, 4, 1, 23, 59, tzinfo=BEIJING)
    assert not is_overdue("accepted", due, last_minute)
    assert is_overdue("accepted", due, dt.datetime(2026, 4, 2, 0, 0, tzinfo=BEIJING))
    # Accepted at 07:30 Beijing (still the previous day in UTC): its days are
    # Beijing days, so the last one is 1 April as well.
    early = dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC)
    assert decision_due(early, "normal", "report_form", limits) == due
    # Accepted at 23:30 Beijing on 1 March: 31 March is its last day.
    late = dt.datetime(2026, 3, 1, 15, 30, tzinfo=dt.UTC)
    assert decision_due(late, "normal", "report_form", limits) == dt.datetime(
        2026, 4, 1, 0, 0, tzinfo=BEIJING
    )


def test_overdue_is_undecided_past_due() -> None:
    due = decision_due(T0, "normal", "report_form", ClockLimits())
    assert not is_overdue("accepted", due, due - dt.timedelta(microseconds=1))
    assert is_overdue("accepted", due, due)
    assert not is_overdue("approved", due, due + dt.timedelta(days=1))
    assert not is_overdue("submitted", None, due + dt.timedelta(days=100))


def test_major_kind_required_for_major_projects() -> None:
    assert major_kind_problem(True, None) is not None
    assert major_kind_problem(False, "livelihood") is not None
    assert major_kind_problem(True, "infrastructure") is None


ACTIONS = ["accept", "evaluation-done", "review-done", "approve", "reject", "withdraw"]


@given(
    st.sampled_from(["normal", "green", "bundled"]),
    st.lists(st.sampled_from(ACTIONS), max_size=12),
)
def test_no_action_sequence_decides_without_its_steps(channel: str, actions: list[str]) -> None:
    """Whatever is tried, in any order: illegal actions change nothing, a
    filing is decided only after an officer's acceptance, and a normal or
    green filing is approved only after both evaluation and review."""
    state = initial_state("normal" if channel == "green" else channel)
    for a in actions:
        try:
            nxt = apply(state, a, green=channel == "green")
        except IllegalTransition as exc:
            assert a not in allowed_actions(state)
            assert exc.extra["allowed"] == allowed_actions(state)
            continue
        if nxt.status in ("approved", "rejected"):
            assert state.status != "submitted"  # never decided unaccepted
        if nxt.status == "approved" and channel != "bundled":
            assert nxt.evaluation_done and nxt.review_done
        if state.status in ("approved", "rejected", "withdrawn"):
            raise AssertionError("a decided filing moved")
        state = nxt


def test_every_review_state_and_action_has_a_chinese_name() -> None:
    import typing

    from eia_svc.filings.rules import DECIDED, LABELS_ZH, Action

    states: set[str] = set(DECIDED)
    actions: set[str] = set(typing.get_args(Action))
    for channel in ("normal", "green", "bundled"):
        frontier = [run(channel)]
        while frontier:
            st_ = frontier.pop()
            states.add(st_.status)
            for action in allowed_actions(st_):
                actions.add(action)
                if action != "withdraw":
                    frontier.append(apply(st_, action))
    assert states | actions <= set(LABELS_ZH), (states | actions) - set(LABELS_ZH)
