"""The rules of execution reports (执行报告), as plain functions: periods owed
by category, due dates, refusals of a period, and plausibility findings."""

from __future__ import annotations

import datetime as dt

import pytest
from permit_svc.execution_reports import rules
from permit_svc.execution_reports.rules import Finding, Period
from svc_common import i18n

D = dt.date


@pytest.mark.parametrize(
    ("code", "first", "last", "due"),
    [
        ("2025", D(2025, 1, 1), D(2025, 12, 31), D(2026, 1, 15)),
        ("2025-Q1", D(2025, 1, 1), D(2025, 3, 31), D(2025, 4, 15)),
        ("2025-Q4", D(2025, 10, 1), D(2025, 12, 31), D(2026, 1, 15)),
        ("2024-02", D(2024, 2, 1), D(2024, 2, 29), D(2024, 3, 15)),
        ("2025-12", D(2025, 12, 1), D(2025, 12, 31), D(2026, 1, 15)),
    ],
)
def test_periods_and_their_due_dates(
    code: str, first: dt.date, last: dt.date, due: dt.date
) -> None:
    p = rules.parse_period(code)
    assert p is not None and p.code == code
    assert (p.first_day, p.last_day, p.due_date) == (first, last, due)


@pytest.mark.parametrize("code", ["9999", "9999-Q4", "9999-12"])
def test_the_last_period_of_the_calendar_ends_on_its_last_day(code: str) -> None:
    """Its end was counted from the day after it, in year 10000 (a 500 for
    a report filed for 9999); its due date is past the calendar, but a
    period that has not ended is refused before that is read."""
    p = rules.parse_period(code)
    assert p is not None and p.last_day == D(9999, 12, 31)
    if p.frequency != "monthly":  # owed by key management
        refusal = rules.period_refusal(p, "key", D(2024, 1, 1), None, D(9999, 12, 30))
        assert refusal is not None and "ends on 9999-12-31" in refusal


@pytest.mark.parametrize(
    "code", ["25", "2025-Q5", "2025-Q0", "2025-13", "2025-00", "0000", "0999-Q1", "2025-1"]
)
def test_what_is_no_period(code: str) -> None:
    assert rules.parse_period(code) is None


def test_key_management_owes_annual_and_quarterly_simplified_annual_registration_none() -> None:
    start, today = D(2024, 5, 10), D(2025, 7, 1)
    key = [p.code for p in rules.owed_periods("key", start, None, today)]
    assert key == ["2024", "2024-Q2", "2024-Q3", "2024-Q4", "2025-Q1", "2025-Q2"]
    simple = [p.code for p in rules.owed_periods("simplified", start, None, today)]
    assert simple == ["2024"]
    assert rules.owed_periods("registration", start, None, today) == []


def test_monthly_is_a_frequency_no_category_owes_by_default() -> None:
    assert all("monthly" not in owed for owed in rules.FREQUENCIES.values())
    refusal = rules.period_refusal(
        Period("monthly", 2025, 3), "key", D(2024, 1, 1), None, D(2025, 6, 1)
    )
    assert refusal is not None and "no monthly reports" in refusal
    with i18n.use("zh"):
        zh = rules.period_refusal(
            Period("monthly", 2025, 3), "simplified", D(2024, 1, 1), None, D(2025, 6, 1)
        )
    assert zh == "简化管理的许可证无需提交月度执行报告（应提交：年度）"


def test_only_periods_from_validity_start_and_within_validity() -> None:
    # Valid from 1 April 2025 to 30 June 2025: Q2 only of the quarters; 2025 too.
    owed = rules.owed_periods("key", D(2025, 4, 1), D(2025, 6, 30), D(2026, 3, 1))
    assert [p.code for p in owed] == ["2025", "2025-Q2"]


def test_missed_are_owed_past_their_due_date_and_not_filed() -> None:
    start = D(2025, 1, 1)
    # On 15 April the first quarter is due that day: in time.
    assert rules.missed_periods("key", start, None, D(2025, 4, 15), set()) == []
    missed = rules.missed_periods("key", start, None, D(2025, 4, 16), set())
    assert [p.code for p in missed] == ["2025-Q1"]
    assert rules.missed_periods("key", start, None, D(2025, 4, 16), {"2025-Q1"}) == []
    on_16_jan = rules.missed_periods("key", start, None, D(2026, 1, 16), {"2025-Q1"})
    assert [p.code for p in on_16_jan] == ["2025", "2025-Q2", "2025-Q3", "2025-Q4"]


def test_period_refusals() -> None:
    today = D(2025, 7, 1)
    assert (
        rules.period_refusal(Period("quarterly", 2025, 2), "key", D(2024, 1, 1), None, today)
        is None
    )
    # Not ended: the quarter ending today has not ended yet.
    not_ended = rules.period_refusal(
        Period("quarterly", 2025, 3), "key", D(2024, 1, 1), None, today
    )
    assert not_ended is not None and "has not ended" in not_ended
    assert rules.period_refusal(Period("annual", 2025), "key", D(2024, 1, 1), None, D(2025, 12, 31))
    assert (
        rules.period_refusal(Period("annual", 2025), "key", D(2024, 1, 1), None, D(2026, 1, 1))
        is None
    )
    before = rules.period_refusal(Period("annual", 2023), "key", D(2024, 1, 1), None, today)
    assert before is not None and "before the permit's validity" in before
    after = rules.period_refusal(
        Period("quarterly", 2025, 1), "key", D(2020, 1, 1), D(2024, 12, 31), today
    )
    assert after is not None and "after the permit's validity" in after
    quarterly = rules.period_refusal(
        Period("quarterly", 2025, 1), "simplified", D(2024, 1, 1), None, today
    )
    assert quarterly is not None and "no quarterly reports" in quarterly


def test_late_after_the_due_day() -> None:
    q1 = Period("quarterly", 2025, 1)
    assert not rules.is_late(q1, D(2025, 4, 15)) and rules.is_late(q1, D(2025, 4, 16))


def test_pollutants_the_permit_does_not_limit() -> None:
    assert rules.unlimited_pollutants(["VOCs", "CO2", "NOx"], {"VOCs": 1, "NOx": 0}) == [1]


def test_an_annual_amount_above_the_permitted_one_is_a_finding() -> None:
    year = Period("annual", 2025)
    permitted = {"VOCs": 10_000, "NOx": 5_000}
    assert rules.findings(year, {"VOCs": 10_000, "NOx": 0}, permitted, {}) == []
    assert rules.findings(year, {"VOCs": 10_001}, permitted, {}) == [
        Finding("over_permitted", "VOCs", 10_001, 10_000)
    ]


def test_quarters_summed_above_the_annual_amount_are_a_finding() -> None:
    q3 = Period("quarterly", 2025, 3)
    permitted = {"VOCs": 10_000}
    assert rules.findings(q3, {"VOCs": 2_500}, permitted, {"VOCs": 7_500}) == []
    assert rules.findings(q3, {"VOCs": 2_501}, permitted, {"VOCs": 7_500}) == [
        Finding("quarters_over_permitted", "VOCs", 10_001, 10_000)
    ]
    month = Period("monthly", 2025, 2)
    assert rules.findings(month, {"VOCs": 1}, permitted, {"VOCs": 10_000})[0].code == (
        "months_over_permitted"
    )
    # One quarter's own amount is never held against a year on its own.
    assert rules.findings(q3, {"VOCs": 9_000}, permitted, {}) == []


def test_findings_said_in_both_languages() -> None:
    f = Finding("over_permitted", "VOCs", 12_500, 10_000)
    assert "12.500 t reported is above the permitted 10.000 t/a" in f.message()
    from svc_common import i18n

    with i18n.use("zh"):
        assert "超许可排放量" in f.message()


def test_owed_periods_stop_at_the_validity_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """The years walked stop at the permit's last valid day: asked for a day
    far ahead (9999-12-30), the walk went on to that year for every permit,
    skipping every period, 8,000 years of them each."""
    years: list[int] = []
    periods_of = rules.periods_of

    def counted(frequency: rules.Frequency, year: int) -> list[Period]:
        years.append(year)
        return periods_of(frequency, year)

    monkeypatch.setattr(rules, "periods_of", counted)
    owed = rules.owed_periods("simplified", D(2025, 5, 10), D(2030, 5, 9), D(9999, 12, 30))
    assert [p.code for p in owed] == ["2025", "2026", "2027", "2028", "2029", "2030"]
    assert max(years) == 2030


def test_the_missed_list_is_judged_at_most_a_year_ahead() -> None:
    today = D(2026, 3, 10)
    assert rules.as_of_refusal(D(2027, 3, 10), today) is None
    assert rules.as_of_refusal(D(2020, 1, 1), today) is None
    refusal = rules.as_of_refusal(D(2027, 3, 11), today)
    assert refusal == (
        "must be at most 1 year after today (2027-03-10 at the latest; it is 2027-03-11)"
    )
    with i18n.use("zh"):
        assert rules.as_of_refusal(D(9999, 12, 30), today) == (
            "不得晚于今天起 1 年（最晚 2027-03-10；给出的是 9999-12-30）"
        )


def test_a_period_typed_in_full_width_is_read_as_ascii() -> None:
    """A period typed with a Chinese IME in full-width mode ("２０２５",
    "２０２５－Ｑ３") was refused as no period; it is the period it reads as,
    as supervision-svc reads a plan's period. One that is no period in
    either width is still refused, saying what a period is."""
    from permit_svc.execution_reports.schemas import ExecutionReportIn
    from pydantic import ValidationError

    emissions = [{"pollutant": "VOCs", "amount_t": "1"}]
    for typed, period in (
        ("２０２５", "2025"),
        ("２０２５－Ｑ３", "2025-Q3"),
        ("2025－07", "2025-07"),
    ):
        report = ExecutionReportIn.model_validate({"period": typed, "emissions": emissions})
        assert report.period == period
        assert rules.parse_period(report.period) is not None
    with pytest.raises(ValidationError) as bad:
        ExecutionReportIn.model_validate({"period": "２０２５－Ｑ５", "emissions": emissions})
    assert [e["loc"] for e in bad.value.errors()] == [("period",)]
    assert i18n.pydantic_message(
        bad.value.errors()[0]["type"], bad.value.errors()[0].get("ctx"), "x"
    ).startswith("is not a period")
