"""Pure rules, without a database: lifecycle tables, numbers, terms, amounts,
total-quantity control, audit rules and report arithmetic."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from permit_svc.audits import rules as audit_rules
from permit_svc.calendar import local_today, validity_end
from permit_svc.permits import rules
from permit_svc.registrations import rules as reg_rules
from permit_svc.reports.rules import percent
from svc_common.errors import IllegalTransition
from svc_common.uscc import PERMIT_NO_RE

ALL_ACTIONS = (
    "issue",
    "reject",
    "change",
    "renew",
    "suspend",
    "reinstate",
    "revoke",
    "cancel",
    "expire",
)
LEGAL = {
    ("applied", "issue"): "issued",
    ("applied", "reject"): "rejected",
    ("issued", "change"): "issued",
    ("issued", "renew"): "issued",
    ("issued", "suspend"): "suspended",
    ("issued", "revoke"): "revoked",
    ("issued", "cancel"): "cancelled",
    ("issued", "expire"): "expired",
    ("suspended", "reinstate"): "issued",
    ("suspended", "revoke"): "revoked",
    ("suspended", "cancel"): "cancelled",
    ("suspended", "expire"): "expired",
    ("revoked", "cancel"): "cancelled",
    ("expired", "cancel"): "cancelled",
}


@pytest.mark.parametrize("status", list(rules.TRANSITIONS))
@pytest.mark.parametrize("action", ALL_ACTIONS)
def test_permit_transition_table(status: str, action: str) -> None:
    if (status, action) in LEGAL:
        assert rules.next_status(status, action) == LEGAL[(status, action)]
        return
    with pytest.raises(IllegalTransition) as err:
        rules.next_status(status, action)
    allowed = [a for (s, a) in LEGAL if s == status and a != "expire"]
    assert err.value.extra["allowed"] == allowed
    assert err.value.status == 409
    assert ", ".join(allowed) in err.value.detail or not allowed


def test_registration_transitions() -> None:
    assert reg_rules.next_status("active", "change") == "active"
    assert reg_rules.next_status("active", "cancel") == "cancelled"
    assert reg_rules.next_status("active", "expire") == "expired"
    with pytest.raises(IllegalTransition, match="allowed now: none"):
        reg_rules.next_status("cancelled", "change")


def test_numbers() -> None:
    uscc = "91350100M000100Y43"
    assert rules.permit_number(uscc, 1) == uscc + "001P"
    assert rules.registration_number(uscc, 12) == uscc + "012W"
    assert PERMIT_NO_RE.match(rules.permit_number(uscc, 999))
    with pytest.raises(ValueError):
        rules.permit_number(uscc, 1000)


def test_terms_and_renewal() -> None:
    assert rules.term(dt.date(2026, 11, 23), 5) == (dt.date(2026, 11, 23), dt.date(2031, 11, 22))
    assert validity_end(dt.date(2028, 2, 29), 5) == dt.date(2033, 2, 27)
    assert rules.renewal_due(dt.date(2031, 11, 22)) == dt.date(2031, 9, 23)
    # Within the window the new term follows on from the old one.
    start, end = rules.renewal_term(dt.date(2031, 10, 1), dt.date(2031, 11, 22), 5, 365)
    assert (start, end) == (dt.date(2031, 11, 23), dt.date(2036, 11, 22))
    with pytest.raises(ValueError, match="renewal opens on 2030-11-22"):
        rules.renewal_term(dt.date(2027, 1, 1), dt.date(2031, 11, 22), 5, 365)


def test_local_day_is_beijing_time() -> None:
    late_utc = dt.datetime(2026, 11, 22, 17, 30, tzinfo=dt.UTC)
    assert local_today(late_utc) == dt.date(2026, 11, 23)


def test_amount_changes() -> None:
    changes = rules.amount_changes({"VOCs": 12_000, "NOx": 500}, {"VOCs": 9_500, "SO2": 100})
    assert [(c.pollutant, c.before_kg, c.after_kg, c.delta_kg) for c in changes] == [
        ("VOCs", 12_000, 9_500, -2_500),
        ("NOx", 500, 0, -500),
        ("SO2", 0, 100, 100),
    ]
    assert rules.amount_changes({"VOCs": 1}, {"VOCs": 1}) == []


@pytest.mark.parametrize(
    ("increase", "allocated", "drawn", "missing"),
    [
        (0, 0, 0, 0),
        (-5, 0, 0, 0),
        (1_000, 1_000, 0, 0),
        (1_000, 1_500, 800, 300),
        (1_000, 500, 900, 1_000),
        (2_500, 3_000, 0, 0),
    ],
)
def test_quota_missing(increase: int, allocated: int, drawn: int, missing: int) -> None:
    assert rules.quota_missing_kg(increase, allocated, drawn) == missing


def test_audit_rules() -> None:
    assert audit_rules.check_result("pass", 0) is None
    assert audit_rules.check_result("findings", 2) is None
    assert "no findings" in (audit_rules.check_result("pass", 1) or "")
    assert "at least one" in (audit_rules.check_result("findings", 0) or "")
    day = dt.date(2026, 12, 1)
    assert audit_rules.is_overdue("open", day, day + dt.timedelta(days=1))
    assert not audit_rules.is_overdue("open", day, day)
    assert not audit_rules.is_overdue("rectified", day, day + dt.timedelta(days=9))
    with pytest.raises(IllegalTransition, match="while the finding is rectified"):
        audit_rules.next_finding_status("rectified", "rectify")


def test_percent_is_exact_and_truncated() -> None:
    assert percent(220, 274) == Decimal("80.2")
    assert percent(4549, 4549) == Decimal("100.0")
    assert percent(4549, 4552) == Decimal("99.9")
    assert percent(1, 8) == Decimal("12.5")
    assert percent(1, 16) == Decimal("6.2")
    assert percent(0, 0) is None
    # A part outside 0..whole is a counting error (svc_common.rates).
    for part in (-1, 275):
        with pytest.raises(ValueError):
            percent(part, 274)


def test_coverage_is_100_only_when_every_source_is_covered() -> None:
    """4549 of 4551 covered is 99.956…%: rounded half up it was published as
    100.0 (100%全覆盖) with two sources uncovered."""
    assert percent(4549, 4551) == Decimal("99.9")
    assert percent(4550, 4551) == Decimal("99.9")
    assert percent(4551, 4551) == Decimal("100.0")
    # Nor 0.0 when something was done.
    assert percent(1, 4551) == Decimal("0.1")
    assert percent(0, 4551) == Decimal("0.0")


def test_a_refused_step_names_the_state_and_action_in_chinese() -> None:
    """The Chinese 409 said "许可证当前为 revoked，不能执行 issue；现在可执行：
    cancel": the codes alone."""
    from svc_common.i18n import use

    with use("zh"), pytest.raises(IllegalTransition) as refused:
        rules.next_status("revoked", "issue")
    assert refused.value.detail == (
        "许可证当前为 已撤销（revoked），不能执行 核发（issue）；现在可执行：注销（cancel）"
    )
    with use("zh"), pytest.raises(IllegalTransition) as registration:
        reg_rules.next_status("cancelled", "change")
    assert registration.value.detail == (
        "排污登记当前为 已注销（cancelled），不能执行 变更（change）；现在可执行：无"
    )
    with use("zh"), pytest.raises(IllegalTransition) as finding:
        audit_rules.next_finding_status("rectified", "rectify")
    assert finding.value.detail == (
        "问题当前为 已整改（rectified），不能执行 整改（rectify）；现在可执行：无"
    )
    with use("en"), pytest.raises(IllegalTransition) as english:
        rules.next_status("revoked", "issue")
    assert english.value.detail == (
        "the action 'issue' is not allowed while the permit is revoked; allowed now: cancel"
    )


@pytest.mark.parametrize(
    ("table", "labels"),
    [
        (rules.TRANSITIONS, rules.LABELS_ZH),
        (reg_rules.TRANSITIONS, reg_rules.LABELS_ZH),
        (audit_rules.FINDING_TRANSITIONS, audit_rules.FINDING_LABELS_ZH),
    ],
)
def test_every_state_and_action_has_a_chinese_name(
    table: dict[str, dict[str, str]], labels: dict[str, str]
) -> None:
    named = set(table) | {a for step in table.values() for a in step}
    assert named <= set(labels), named - set(labels)
