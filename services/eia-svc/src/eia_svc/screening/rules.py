"""Pure submission-time checks. Each returns the issues it finds, named by
field, so a caller can report all of them at once (a filer fixes a row in one
go) and bulk filing can check thousands of rows without touching a database."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from svc_common.districts import district_problem
from svc_common.i18n import msg
from svc_common.industries import canonical_or_none
from svc_common.readable import escaped
from svc_common.types import kg_to_tonnes
from svc_common.uscc import uscc_problem

from eia_svc.classification.rules import CATEGORY_NAMES, CATEGORY_NAMES_ZH, ProjectType, classify
from eia_svc.control_units.rules import ControlUnit, banned_entry, refusal_message


@dataclass(frozen=True)
class Issue:
    """One reason a submission is refused. `kind` lets the API say more than
    "invalid": exempt (no filing needed), wrong_category, banned, invalid."""

    field: str
    message: str
    kind: str = "invalid"
    extra: dict[str, str] = dataclasses.field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class ProjectFacts:
    """What screening needs to know about a submitted project. A field left
    None was unusable (its own shape error is reported): the checks that
    need it are skipped, the others still run, so every problem is named."""

    uscc: str | None
    district: str | None
    project_type: str | None
    industry_code: str | None = None
    control_unit: str | None = None
    vocs_increment_kg: int | None = None


def check_identity(facts: ProjectFacts) -> list[Issue]:
    issues = []
    if facts.uscc is not None and (problem := uscc_problem(facts.uscc)):
        issues.append(Issue("uscc", problem))
    if facts.district is not None and (problem := district_problem(facts.district)):
        issues.append(Issue("district", problem))
    return issues


def _not_in_table(code: str) -> Issue:
    code = escaped(code)  # a code holding an invisible character reads as another
    return Issue(
        "project_type",
        msg(
            f"{code} is not in the EIA classification table",
            f"{code} 不在建设项目环境影响评价分类管理名录中",
        ),
    )


def check_registration_type(pt: ProjectType | None, code: str) -> list[Issue]:
    """A registration form (登记表) is filed only for types the table says need one."""
    if pt is None:
        return [_not_in_table(code)]
    if pt.category == "registration_form":
        return []
    c = classify(pt)
    if pt.category == "exempt":
        return [Issue("project_type", c.explanation, "exempt", {"rule": pt.rule})]
    return [
        Issue(
            "project_type",
            msg(
                f"{c.explanation}, not a registration form: file it with POST /eia/filings "
                f"as category {pt.category}",
                f"{c.explanation}，不属于登记表：请以类别 {pt.category} "
                "通过 POST /eia/filings 报批",
            ),
            "wrong_category",
            {"category_needed": pt.category, "rule": pt.rule},
        )
    ]


def check_vocs_limit(increment_kg: int | None, limit_kg: int | None) -> list[Issue]:
    """A registration form is filed with no review and asks no quota: its VOCs
    increment must stay below the limit; at or above it the project needs a
    report form (报告表) and quota (总量指标)."""
    if increment_kg is None or limit_kg is None or increment_kg < limit_kg:
        return []
    amount, limit = kg_to_tonnes(increment_kg), kg_to_tonnes(limit_kg)
    return [
        Issue(
            "vocs_increment_t",
            msg(
                f"declares {amount} t/a of VOCs, not below the {limit} t/a a registration form "
                "may declare: the project needs a report form (报告表), filed with "
                "POST /eia/filings as category report_form, and VOCs quota (总量指标)",
                f"申报 VOCs 增量 {amount} 吨/年，不低于登记表允许的 {limit} 吨/年："
                "该项目应编制环境影响报告表，以类别 report_form 通过 POST /eia/filings 报批，"
                "并取得 VOCs 总量指标",
            ),
            "wrong_category",
            {"category_needed": "report_form", "vocs_limit_t": str(limit)},
        )
    ]


def check_filing_type(
    pt: ProjectType | None,
    code: str,
    category: str,
    increment_kg: int | None = None,
    limit_kg: int | None = None,
) -> list[Issue]:
    """A report / report-form filing must state the category the table gives;
    a registration-form type whose VOCs increment reaches the registration
    form's limit is filed as a report form instead."""
    if pt is None:
        return [_not_in_table(code)]
    c = classify(pt)
    if pt.category == "exempt":
        return [Issue("project_type", c.explanation, "exempt", {"rule": pt.rule})]
    if pt.category == "registration_form" and check_vocs_limit(increment_kg, limit_kg):
        if category == "report_form":
            return []
        return [
            Issue(
                "category",
                msg(
                    f"is {category} but {pt.code} {pt.name} with this VOCs increment needs a "
                    "report form (报告表): file it as category report_form",
                    f"填报为 {category}，但 {pt.code} {pt.name} 按此 VOCs 增量应编制"
                    "环境影响报告表：请以类别 report_form 报批",
                ),
                "wrong_category",
                {"category_needed": "report_form", "rule": pt.rule},
            )
        ]
    if pt.category == "registration_form":
        return [
            Issue(
                "category",
                msg(
                    f"{c.explanation}: file it with POST /eia/registrations, no review is needed",
                    f"{c.explanation}：请通过 POST /eia/registrations 备案，无需审批",
                ),
                "wrong_category",
                {"category_needed": pt.category, "rule": pt.rule},
            )
        ]
    if category != pt.category:
        return [
            Issue(
                "category",
                msg(
                    f"is {category} but the classification table gives "
                    f"{CATEGORY_NAMES[pt.category]} for {pt.code} {pt.name} (rule '{pt.rule}')",
                    f"填报为 {category}，但分类管理名录规定 {pt.code} {pt.name} 为"
                    f"{CATEGORY_NAMES_ZH[pt.category]}（依据“{pt.rule}”）",
                ),
                "wrong_category",
                {"category_needed": pt.category, "rule": pt.rule},
            )
        ]
    return []


def industry_of(facts: ProjectFacts, pt: ProjectType | None) -> str | None:
    """The stated industry code, else the one the project type belongs to."""
    return facts.industry_code or (pt.industry_code if pt else None)


def industries_of(facts: ProjectFacts, pt: ProjectType | None) -> list[str]:
    """Every industry code a submission states: its project type's (the
    table's) and the `industry_code` it gives, each once. A negative list
    (负面清单) is held against all of them, so a stated code cannot hide
    the type's industry from the unit's screen."""
    codes = [pt.industry_code] if pt and pt.industry_code else []
    if facts.industry_code and facts.industry_code not in codes:
        codes.append(facts.industry_code)
    return codes


def industry_agrees(stated: str, pt: ProjectType) -> bool:
    """A stated industry code (行业代码) must be the project type's GB/T 4754
    code or one within it (a class of the type's division or group): it may
    say more precisely what the project is, never that it is something else."""
    own = canonical_or_none(pt.industry_code) or pt.industry_code
    return (canonical_or_none(stated) or stated).startswith(own)


def check_industry(facts: ProjectFacts, pt: ProjectType | None) -> list[Issue]:
    """The stated industry code agrees with the project type (unchecked when
    either is missing or the type is not in the table: reported elsewhere)."""
    stated = facts.industry_code
    if stated is None or pt is None or not pt.industry_code or industry_agrees(stated, pt):
        return []
    # A class (a letter and four digits) has no code within it to offer.
    finer = len(pt.industry_code) < 5
    return [
        Issue(
            "industry_code",
            msg(
                f"{stated} is not the industry of project type {pt.code} {pt.name}, which "
                f"the classification table puts in industry {pt.industry_code}: state "
                f"{pt.industry_code}{' (or a code within it)' if finer else ''}, or the "
                "project type that fits",
                f"{stated} 与项目类别 {pt.code} {pt.name} 不符：分类管理名录中该类别属于"
                f"行业 {pt.industry_code}，请填写 {pt.industry_code}"
                f"{'（或其下的细分代码）' if finer else ''}，或改填相符的项目类别",
            ),
        )
    ]


def check_control_unit(
    facts: ProjectFacts, pt: ProjectType | None, units: Mapping[str, ControlUnit]
) -> list[Issue]:
    """三线一单 screening: the project's unit must exist, be in its district and
    not list any industry the submission states (`industries_of`) on its
    negative list."""
    if facts.control_unit is None:
        return []
    unit = units.get(facts.control_unit)
    if unit is None:
        code = escaped(facts.control_unit)  # "a\u200bb" is not read as "ab"
        return [
            Issue(
                "control_unit",
                msg(
                    f"{code} is not a known control unit",
                    f"{code} 不是已知的环境管控单元",
                ),
            )
        ]
    if facts.district is None:
        return []  # the district is reported already; the unit cannot be placed
    if unit.district != facts.district:
        return [
            Issue(
                "control_unit",
                msg(
                    f"{unit.code} {unit.name} lies in district {unit.district}, "
                    f"not {facts.district}",
                    f"{unit.code} {unit.name} 位于区 {unit.district}，而非 {facts.district}",
                ),
            )
        ]
    for industry in industries_of(facts, pt):
        if entry := banned_entry(unit, industry):
            return [
                Issue(
                    "control_unit",
                    refusal_message(unit, industry, entry),
                    "banned",
                    {"unit": unit.code, "unit_kind": unit.kind, "rule": unit.rule, "entry": entry},
                )
            ]
    return []


def _usable_district(facts: ProjectFacts, issues: list[Issue]) -> ProjectFacts:
    """The facts with a district known to be bad left out (it is reported)."""
    if any(i.field == "district" for i in issues):
        return dataclasses.replace(facts, district=None)
    return facts


def screen_registration(
    facts: ProjectFacts,
    types: Mapping[str, ProjectType],
    units: Mapping[str, ControlUnit],
    vocs_limit_kg: int | None = None,
) -> list[Issue]:
    """Every reason a registration form cannot be filed, at once."""
    pt = types.get(facts.project_type) if facts.project_type is not None else None
    issues = check_identity(facts)
    if facts.project_type is not None:
        issues += check_registration_type(pt, facts.project_type)
    issues += check_industry(facts, pt)
    issues += check_vocs_limit(facts.vocs_increment_kg, vocs_limit_kg)
    issues += check_control_unit(_usable_district(facts, issues), pt, units)
    return issues


def screen_filing(
    facts: ProjectFacts,
    category: str,
    types: Mapping[str, ProjectType],
    units: Mapping[str, ControlUnit],
    vocs_limit_kg: int | None = None,
) -> list[Issue]:
    """Every reason a report / report-form filing cannot be submitted, at once."""
    pt = types.get(facts.project_type) if facts.project_type is not None else None
    issues = check_identity(facts)
    if facts.project_type is not None:
        issues += check_filing_type(
            pt, facts.project_type, category, facts.vocs_increment_kg, vocs_limit_kg
        )
    issues += check_industry(facts, pt)
    issues += check_control_unit(_usable_district(facts, issues), pt, units)
    return issues
