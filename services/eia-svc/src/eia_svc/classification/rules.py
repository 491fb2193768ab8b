"""Pure rules of the classification table: parsing the CSV and answering
"what does this project type need?"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from svc_common.i18n import msg
from svc_common.industries import industry_code_problem, normalise_industry_code
from svc_common.uploads import table_header, table_rows

Category = Literal["report", "report_form", "registration_form", "exempt"]
CATEGORIES: tuple[str, ...] = get_args(Category)
CATEGORY_NAMES = {
    "report": "report (报告书)",
    "report_form": "report form (报告表)",
    "registration_form": "registration form (登记表)",
    "exempt": "exempt (免于环评管理)",
}
#: The categories as the Chinese documents name them (报告书 is 环境影响报告书).
CATEGORY_NAMES_ZH = {
    "report": "报告书",
    "report_form": "报告表",
    "registration_form": "登记表",
    "exempt": "免于环评管理",
}
COLUMNS = ("code", "name", "industry_code", "category", "rule")
MAX_ROWS = 5000


@dataclass(frozen=True)
class ProjectType:
    """One row of the classification table (名录): a project type and its category."""

    code: str
    name: str
    industry_code: str
    category: str
    rule: str


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str


def parse_table(text: str) -> tuple[list[ProjectType], list[RowError]]:
    """Parse a classification CSV; every bad cell is reported, with its line."""
    header = table_header(text)
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        return [], [
            RowError(1, c, msg("column is missing from the header", "表头缺少该列"))
            for c in missing
        ]
    types: list[ProjectType] = []
    errors: list[RowError] = []
    seen: set[str] = set()
    # Each row with the line it ends on (a quoted cell may span lines), a
    # row of more cells than the header refused (svc_common.uploads).
    for count, row in enumerate(table_rows(text, COLUMNS), start=1):
        line = row.line
        if count > MAX_ROWS:
            errors.append(
                RowError(
                    line,
                    "code",
                    msg(f"the table may have at most {MAX_ROWS} rows", f"表格最多 {MAX_ROWS} 行"),
                )
            )
            break
        if row.problem:
            errors.append(RowError(line, header[-1], row.problem))
            if not row.cells:
                continue  # unreadable: no cells to check
        values = dict(row.cells)
        for col in COLUMNS:
            if not values[col]:
                errors.append(RowError(line, col, msg("must not be empty", "不得为空")))
        if values["industry_code"]:
            if problem := industry_code_problem(values["industry_code"]):
                errors.append(RowError(line, "industry_code", problem))
            else:
                values["industry_code"] = normalise_industry_code(values["industry_code"])
        if values["category"] and values["category"] not in CATEGORIES:
            errors.append(
                RowError(
                    line,
                    "category",
                    msg(
                        f"must be one of {', '.join(CATEGORIES)}",
                        f"须为 {'、'.join(CATEGORIES)} 之一",
                    ),
                )
            )
        if values["code"] in seen:
            errors.append(
                RowError(
                    line,
                    "code",
                    msg(f"{values['code']} appears twice", f"{values['code']} 重复出现"),
                )
            )
        seen.add(values["code"])
        types.append(ProjectType(**values))
    if not types and not errors:
        errors.append(RowError(2, "code", msg("the table has no rows", "表格没有数据行")))
    return types, errors


@dataclass(frozen=True)
class Classification:
    project_type: ProjectType
    needs_filing: bool
    explanation: str


def classify(pt: ProjectType) -> Classification:
    """What the table says about a project type, in words a filer understands."""
    category = CATEGORY_NAMES[pt.category]
    if pt.category == "exempt":
        text = msg(
            (
                f"{pt.code} {pt.name} is exempt from EIA management (免于环评管理) by the rule "
                f"'{pt.rule}': no EIA filing is needed"
            ),
            (f"{pt.code} {pt.name} 依据“{pt.rule}”免于环评管理，无需办理环评手续"),
        )
        return Classification(pt, False, text)
    text = msg(
        f"{pt.code} {pt.name} needs an EIA {category} by the rule '{pt.rule}'",
        f"{pt.code} {pt.name} 依据“{pt.rule}”应编制环境影响{CATEGORY_NAMES_ZH[pt.category]}",
    )
    return Classification(pt, True, text)
