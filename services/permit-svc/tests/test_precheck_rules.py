"""The pre-acceptance checks (许可申请受理前自动校验) as plain functions:
each advisory check from the facts read, the refusals of a dry run, and a
result kept as its code and parameters, said in either language."""

from __future__ import annotations

import datetime as dt

from permit_svc.prechecks import rules
from permit_svc.prechecks.rules import Check, Facts
from svc_common import i18n


def _by_code(checks: list[Check]) -> dict[str, Check]:
    return {c.code: c for c in checks}


def test_a_plain_application_passes_every_check() -> None:
    f = Facts([("NOx", 1500)], None)
    checks = rules.advisory(f)
    assert [c.code for c in checks] == list(rules.ADVISORY)
    assert all(c.passed for c in checks) and rules.attention(checks) == 0


def test_vocs_above_the_permits_in_force_must_be_backed() -> None:
    # 5 t applied for, 3 t held by the permit in force: 2 t must be backed;
    # 1.5 t allocated, 0.5 t of it drawn already: 1 t available, 1 t missing.
    f = Facts(
        [("NOx", 1000), ("VOCs", 5000)],
        "P-1",
        in_force_permit_no="91120115000000001J001P",
        in_force_vocs_kg=3000,
        allocated_kg=1500,
        drawn_kg=500,
    )
    c = rules.quota_backing(f)
    assert (c.passed, c.field) == (False, "pollutants.1.amount_t")
    assert c.params == {"missing_t": "1.000", "required_t": "2.000", "available_t": "1.000"}
    assert "1.000 t/a is missing" in c.message()
    # Fully backed, or no increase over the permits in force: passed.
    assert rules.quota_backing(Facts([("VOCs", 5000)], "P-1", allocated_kg=5000)).passed
    assert rules.quota_backing(Facts([("VOCs", 2000)], None, in_force_vocs_kg=3000)).passed
    assert rules.quota_backing(Facts([("NOx", 2000)], None)).passed


def test_what_the_enterprise_already_has_under_way() -> None:
    f = Facts(
        [("NOx", 1000)],
        None,
        in_force_permit_no="91120115000000001J001P",
        pending_ids=["a1", "a2"],
        open_findings=3,
        earliest_deadline=dt.date(2026, 4, 1),
        missed_reports=2,
    )
    found = _by_code(rules.advisory(f))
    assert found["permit_in_force"].params == {"permit_no": "91120115000000001J001P"}
    assert found["pending_application"].params == {"permit_id": "a1", "count": 2}
    assert found["open_rectification"].params == {"count": 3, "earliest_deadline": "2026-04-01"}
    assert found["missed_execution_reports"].params == {"count": 2}
    assert "2026-04-01" in found["open_rectification"].message()
    assert rules.attention(list(found.values())) == 4


def test_vocs_needs_an_approved_project_or_a_permit_it_expands() -> None:
    # A project whose quota allocation is known, or none: passed or not.
    known = Facts([("VOCs", 1000)], "P-1", project_known=True)
    assert rules.no_project_eia(known).passed
    unknown = rules.no_project_eia(Facts([("VOCs", 1000)], "P-9"))
    assert (unknown.passed, unknown.field, unknown.params) == (
        False,
        "project_ref",
        {"project_ref": "P-9"},
    )
    # No project: a new source needs one; an expansion of a permit in force does not.
    new_source = rules.no_project_eia(Facts([("VOCs", 1000)], None))
    assert not new_source.passed and "EIA approval" in new_source.message()
    assert rules.no_project_eia(Facts([("VOCs", 1000)], None, in_force_permit_no="X")).passed
    # No VOCs applied for: nothing to say.
    assert rules.no_project_eia(Facts([("NOx", 1000)], None)).passed
    assert rules.no_project_eia(Facts([("VOCs", 0)], "P-9")).passed


def test_a_pollutant_at_zero_is_named_with_its_field() -> None:
    c = rules.zero_amount(Facts([("VOCs", 1000), ("NOx", 0), ("PM", 0)], None))
    assert (c.passed, c.field, c.params) == (
        False,
        "pollutants.1.amount_t",
        {"pollutants": ["NOx", "PM"]},
    )
    assert c.message() == "NOx, PM listed at 0 t/a: leave out what is not permitted"
    with i18n.use("zh"):
        assert c.message().startswith("NOx、PM 的许可量为 0 吨/年")


def test_refusals_are_checks_of_a_dry_run() -> None:
    unknown = rules.refusals(known=False, closed=False, needs_permit=True, registration_no=None)
    assert [(c.code, c.passed, c.field) for c in unknown] == [("enterprise_unknown", False, "uscc")]
    fine = rules.refusals(known=True, closed=False, needs_permit=True, registration_no=None)
    assert [c.code for c in fine] == list(rules.REFUSALS) and rules.attention(fine) == 0
    bad = _by_code(
        rules.refusals(known=True, closed=True, needs_permit=False, registration_no="R-1")
    )
    assert not bad["enterprise_closed"].passed and not bad["registration_management"].passed
    assert bad["holds_registration"].params == {"registration_no": "R-1"}
    assert "R-1" in bad["holds_registration"].message()


def test_a_result_is_kept_as_its_code_and_parameters_and_said_when_read() -> None:
    c = rules.permit_in_force(Facts([("NOx", 1)], None, in_force_permit_no="N-1"))
    kept = c.stored()
    assert kept == {"code": "permit_in_force", "passed": False, "field": None, "permit_no": "N-1"}
    again = Check.of_stored(kept)
    assert again == c
    assert again.message().startswith("the enterprise already holds permit N-1 in force")
    with i18n.use("zh"):
        assert again.message().startswith("企业已持有有效的排污许可证 N-1")
    # Every code says something in both languages, passed or not.
    every = rules.advisory(
        Facts(
            [("VOCs", 1000), ("NOx", 0)],
            "P-1",
            in_force_permit_no="N-1",
            pending_ids=["a"],
            open_findings=1,
            missed_reports=1,
        )
    ) + rules.refusals(known=True, closed=True, needs_permit=False, registration_no="R")
    for check in every + [Check(x.code, True) for x in every]:
        for lang in ("en", "zh"):
            with i18n.use(lang):  # type: ignore[arg-type]
                assert check.message()
