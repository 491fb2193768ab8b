"""Pure submission-time checks. Each returns the issues it finds, named by
field, so a caller can report all of them at once (a filer fixes a row in one
go) and bulk filing can check thousands of rows without touching a database."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from svc_common.districts import district_problem
from svc_common.i18n import msg
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
    """What screening needs to know about a submitted project."""

    uscc: str
    district: str
    project_type: str
    industry_code: str | None = None
    control_unit: str | None = None


def check_identity(facts: ProjectFacts) -> list[Issue]:
    issues = []
    if problem := uscc_problem(facts.uscc):
        issues.append(Issue("uscc", problem))
    if problem := district_problem(facts.district):
        issues.append(Issue("district", problem))
    return issues


def check_registration_type(pt: ProjectType | None, code: str) -> list[Issue]:
    """A registration form (登记表) is filed only for types the table says need one."""
    if pt is None:
        return [
            Issue(
                "project_type",
                msg(
                    f"{code} is not in the EIA classification table",
                    f"{code} 不在建设项目环境影响评价分类管理名录中",
                ),
            )
        ]
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


def check_filing_type(pt: ProjectType | None, code: str, category: str) -> list[Issue]:
    """A report / report-form filing must state the category the table gives."""
    if pt is None:
        return [
            Issue(
                "project_type",
                msg(
                    f"{code} is not in the EIA classification table",
                    f"{code} 不在建设项目环境影响评价分类管理名录中",
                ),
            )
        ]
    c = classify(pt)
    if pt.category == "exempt":
        return [Issue("project_type", c.explanation, "exempt", {"rule": pt.rule})]
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


def check_control_unit(
    facts: ProjectFacts, pt: ProjectType | None, units: Mapping[str, ControlUnit]
) -> list[Issue]:
    """三线一单 screening: the project's unit must exist, be in its district and
    not list the project's industry on its negative list."""
    if facts.control_unit is None:
        return []
    unit = units.get(facts.control_unit)
    if unit is None:
        return [
            Issue(
                "control_unit",
                msg(
                    f"{facts.control_unit} is not a known control unit",
                    f"{facts.control_unit} 不是已知的环境管控单元",
                ),
            )
        ]
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
    industry = industry_of(facts, pt)
    if industry and (entry := banned_entry(unit, industry)):
        return [
            Issue(
                "control_unit",
                refusal_message(unit, industry, entry),
                "banned",
                {"unit": unit.code, "unit_kind": unit.kind, "rule": unit.rule, "entry": entry},
            )
        ]
    return []


def screen_registration(
    facts: ProjectFacts,
    types: Mapping[str, ProjectType],
    units: Mapping[str, ControlUnit],
) -> list[Issue]:
    pt = types.get(facts.project_type)
    issues = check_identity(facts) + check_registration_type(pt, facts.project_type)
    if not issues:
        issues += check_control_unit(facts, pt, units)
    return issues


def screen_filing(
    facts: ProjectFacts,
    category: str,
    types: Mapping[str, ProjectType],
    units: Mapping[str, ControlUnit],
) -> list[Issue]:
    pt = types.get(facts.project_type)
    issues = check_identity(facts) + check_filing_type(pt, facts.project_type, category)
    if not issues:
        issues += check_control_unit(facts, pt, units)
    return issues
