"""Submission-time screening: identity, category and control units (三线一单)."""

from __future__ import annotations

from eia_svc.classification.rules import ProjectType
from eia_svc.control_units.rules import ControlUnit, banned_entry
from eia_svc.screening.rules import ProjectFacts, screen_filing, screen_registration

VALID = "91350100M000100Y43"
TYPES = {
    "Q8412": ProjectType("Q8412", "社区卫生服务中心", "Q8412", "registration_form", "20张以下"),
    "G5960": ProjectType("G5960", "通用仓储", "G5960", "exempt", "不涉及危险品"),
    "C2614": ProjectType("C2614", "有机化学原料制造", "C2614", "report", "全部"),
    "C3670": ProjectType("C3670", "汽车零部件", "C3670", "report_form", "10吨以下"),
}
UNIT = ControlUnit(
    "BD-YB-01",
    "潮白河优先保护单元",
    "120115",
    "priority_protection",
    ("C26", "C3360"),
    "禁止新建化工项目",
)
UNITS = {UNIT.code: UNIT}


def facts(**over: str) -> ProjectFacts:
    base = {"uscc": VALID, "district": "120115", "project_type": "Q8412"}
    base.update(over)
    return ProjectFacts(**base)  # type: ignore[arg-type]


def test_valid_registration_passes() -> None:
    assert screen_registration(facts(), TYPES, UNITS) == []


def test_all_identity_problems_are_named_at_once() -> None:
    issues = screen_registration(facts(uscc="91350100M000100Y44", district="110101"), TYPES, UNITS)
    assert [i.field for i in issues] == ["uscc", "district"]


def test_exempt_and_report_types_are_refused_with_their_kind() -> None:
    (exempt,) = screen_registration(facts(project_type="G5960"), TYPES, UNITS)
    assert exempt.kind == "exempt" and "no EIA filing is needed" in exempt.message
    (report,) = screen_registration(facts(project_type="C2614"), TYPES, UNITS)
    assert report.kind == "wrong_category" and report.extra["category_needed"] == "report"
    (unknown,) = screen_registration(facts(project_type="X9999"), TYPES, UNITS)
    assert unknown.field == "project_type" and "not in the EIA classification" in unknown.message


def test_filing_category_must_match_the_table() -> None:
    (issue,) = screen_filing(facts(project_type="C3670"), "report", TYPES, UNITS)
    assert issue.field == "category" and issue.extra["category_needed"] == "report_form"
    assert screen_filing(facts(project_type="C3670"), "report_form", TYPES, UNITS) == []
    (reg,) = screen_filing(facts(project_type="Q8412"), "report_form", TYPES, UNITS)
    assert "POST /eia/registrations" in reg.message


def test_banned_industry_names_unit_and_rule() -> None:
    f = facts(project_type="C2614", control_unit="BD-YB-01")
    (issue,) = screen_filing(f, "report", TYPES, UNITS)
    assert issue.kind == "banned"
    assert "BD-YB-01" in issue.message and "禁止新建化工项目" in issue.message
    assert issue.extra["entry"] == "C26"


def test_prefix_bans_and_exact_codes() -> None:
    assert banned_entry(UNIT, "C2641") == "C26"
    assert banned_entry(UNIT, "C3360") == "C3360"
    assert banned_entry(UNIT, "C3670") is None


def test_unit_must_exist_and_lie_in_the_district() -> None:
    (missing,) = screen_registration(facts(control_unit="NOPE"), TYPES, UNITS)
    assert missing.field == "control_unit"
    (elsewhere,) = screen_registration(
        facts(district="120119", control_unit="BD-YB-01"), TYPES, UNITS
    )
    assert "120115" in elsewhere.message
    # An industry stated on the submission is screened too (and must be the type's).
    mismatch, banned = screen_registration(
        facts(control_unit="BD-YB-01", industry_code="C2631"), TYPES, UNITS
    )
    assert mismatch.field == "industry_code" and banned.kind == "banned"


def test_a_stated_industry_must_be_the_types_or_within_it() -> None:
    """A C3360 (spray painting) project stating O8111 was filed in a unit
    banning C33: the stated code hid the type's industry. It must agree."""
    (issue,) = screen_filing(
        facts(project_type="C3670", industry_code="O8111"), "report_form", TYPES, UNITS
    )
    assert issue.field == "industry_code" and "C3670" in issue.message
    # A class has no code within it: the refusal offers none.
    assert "within it" not in issue.message and "细分" not in issue.message
    (issue,) = screen_registration(facts(industry_code="F5261"), TYPES, UNITS)
    assert issue.field == "industry_code" and "Q8412" in issue.message
    assert screen_registration(facts(industry_code="Q8412"), TYPES, UNITS) == []
    # A type the table puts in a division: a class within it says more, not else.
    coarse = {"X1": ProjectType("X1", "化学原料制造", "C26", "report", "全部")}
    ok = facts(project_type="X1", industry_code="C2641")
    assert screen_filing(ok, "report", coarse, UNITS) == []
    (other,) = screen_filing(
        facts(project_type="X1", industry_code="C2710"), "report", coarse, UNITS
    )
    assert other.field == "industry_code"
    assert "within it" in other.message or "细分" in other.message


def test_the_negative_list_sees_every_industry_stated() -> None:
    """Both the type's industry and the stated one are held against the
    unit: a mismatched code is named, and the ban is still found."""
    unit = ControlUnit(
        "BD-KC-01", "宝坻重点管控单元", "120115", "key_control", ("C33", "C26"), "禁止涂装"
    )
    types = {**TYPES, "C3360": ProjectType("C3360", "金属表面处理", "C3360", "report_form", "喷漆")}
    for stated in ("O8111", "Q8412"):
        f = facts(project_type="C3360", industry_code=stated, control_unit="BD-KC-01")
        issues = screen_filing(f, "report_form", types, {unit.code: unit})
        assert [(i.field, i.kind) for i in issues] == [
            ("industry_code", "invalid"),
            ("control_unit", "banned"),
        ]
        assert issues[1].extra["entry"] == "C33"
    # A class within a type's division that the unit bans is banned by its own code.
    coarse = {"X1": ProjectType("X1", "化学原料制造", "C26", "report", "全部")}
    exact = ControlUnit("U", "单元", "120115", "key_control", ("C2641",), "禁止涂料")
    f = facts(project_type="X1", industry_code="C2641", control_unit="U")
    (banned,) = screen_filing(f, "report", coarse, {"U": exact})
    assert banned.kind == "banned" and banned.extra["entry"] == "C2641"


def test_unusable_fields_skip_only_the_checks_that_need_them() -> None:
    """A field with its own shape error is left out (None); every check that
    does not need it still runs, so all problems are named at once."""
    f = ProjectFacts(uscc=None, district="110101", project_type="G5960", control_unit="NOPE")
    assert [i.field for i in screen_registration(f, TYPES, UNITS)] == [
        "district",
        "project_type",
        "control_unit",
    ]
    # A bad district cannot place the unit: only the district is reported.
    f = ProjectFacts(uscc=VALID, district="999999", project_type="Q8412", control_unit="BD-YB-01")
    assert [i.field for i in screen_registration(f, TYPES, UNITS)] == ["district"]
    # A type problem no longer hides a ban in the project's unit.
    f = facts(project_type="C2614", control_unit="BD-YB-01")
    assert [i.kind for i in screen_registration(f, TYPES, UNITS)] == ["wrong_category", "banned"]
    assert screen_registration(ProjectFacts(None, None, None), TYPES, UNITS) == []


def test_registration_forms_stay_below_the_vocs_limit() -> None:
    limit = 100  # kg/a: 0.1 t/a
    below = ProjectFacts(VALID, "120115", "Q8412", vocs_increment_kg=99)
    at = ProjectFacts(VALID, "120115", "Q8412", vocs_increment_kg=100)
    assert screen_registration(below, TYPES, UNITS, limit) == []
    (issue,) = screen_registration(at, TYPES, UNITS, limit)
    assert issue.field == "vocs_increment_t" and issue.extra["category_needed"] == "report_form"
    assert issue.extra["vocs_limit_t"] == "0.100"
    # No limit given: no check (the rule is the caller's setting).
    assert screen_registration(at, TYPES, UNITS) == []
    # At the limit the type is filed as a report form, and only as one.
    assert screen_filing(at, "report_form", TYPES, UNITS, limit) == []
    (report,) = screen_filing(at, "report", TYPES, UNITS, limit)
    assert report.field == "category" and report.extra["category_needed"] == "report_form"
    (reg,) = screen_filing(below, "report_form", TYPES, UNITS, limit)
    assert "POST /eia/registrations" in reg.message
