"""The classification table (分类管理名录): parsing and answers."""

from __future__ import annotations

from collections import Counter

from eia_svc.classification.rules import ProjectType, classify, parse_table
from eia_svc.classification.service import SHIPPED_TABLE


def test_shipped_table_is_valid_and_realistic() -> None:
    types, errors = parse_table(SHIPPED_TABLE.read_text(encoding="utf-8"))
    assert errors == []
    assert len(types) >= 30
    counts = Counter(t.category for t in types)
    assert set(counts) == {"report", "report_form", "registration_form", "exempt"}
    assert counts["exempt"] >= 5


def test_every_bad_cell_is_reported_with_its_line() -> None:
    text = (
        "code,name,industry_code,category,rule\n"
        "A1,ok,C2641,report,r\n"
        "A2,,2641,nonsense,r\n"
        "A1,dup,D2641,exempt,r\n"
    )
    types, errors = parse_table(text)
    assert {(e.line, e.field) for e in errors} == {
        (3, "name"),
        (3, "category"),
        (4, "code"),
        (4, "industry_code"),
    }
    # Either form of a code is kept in one: with its section letter.
    assert [t.industry_code for t in types[:2]] == ["C2641", "C2641"]


def test_missing_column_is_reported() -> None:
    _, errors = parse_table("code,name,category\nA,b,report\n")
    assert {e.field for e in errors} == {"industry_code", "rule"}


def test_exempt_answer_says_no_filing_and_why() -> None:
    pt = ProjectType("G5960", "通用仓储", "G5960", "exempt", "不涉及危险品的仓储")
    c = classify(pt)
    assert not c.needs_filing
    assert "no EIA filing is needed" in c.explanation and "不涉及危险品的仓储" in c.explanation


def test_report_answer_names_category_and_rule() -> None:
    c = classify(ProjectType("C2614", "有机化学原料制造", "C2614", "report", "全部"))
    assert c.needs_filing and "report (报告书)" in c.explanation and "全部" in c.explanation


def test_a_comma_inside_a_cell_must_be_quoted() -> None:
    """The shipped table's E4819 row had `原有道路维修、改造,不新增占地(…)`
    unquoted: the loader kept 原有道路维修、改造 and dropped the condition, so
    a road project taking new land was told it needs no EIA. A row of more
    cells than the header is refused, naming its line."""
    shipped = {t.code: t for t in parse_table(SHIPPED_TABLE.read_text(encoding="utf-8"))[0]}
    assert shipped["E4819"].rule == "原有道路维修、改造,不新增占地(免于环评管理)"
    text = (
        "code,name,industry_code,category,rule\n"
        "G5960,通用仓储,G5960,exempt,不涉及危险品的仓储\n"
        "E4819,市政道路维修改造,E4819,exempt,原有道路维修、改造,不新增占地(免于环评管理)\n"
    )
    _, errors = parse_table(text)
    assert [(e.line, e.field) for e in errors] == [(3, "rule")]
    assert "6 cells" in errors[0].message and "must be quoted" in errors[0].message
    rule = "原有道路维修、改造,不新增占地(免于环评管理)"
    quoted = text.replace(rule, f'"{rule}"')
    types, errors = parse_table(quoted)
    assert errors == [] and types[1].rule == "原有道路维修、改造,不新增占地(免于环评管理)"


def test_a_row_is_named_by_its_physical_line() -> None:
    """A blank line and a quoted cell over two lines before it: the bad row
    is named by the line it is on (as permit-svc's industry table is,
    svc_common.uploads.table_rows), an extra cell too."""
    text = (
        "code,name,industry_code,category,rule\n"
        "\n"
        'A1,ok,C2641,report,"全部\n（含扩建）"\n'
        "A2,ok,C2642,report,r\n"
        "A3,ok,C2643,nonsense,r\n"
        "A4,ok,C2644,report,r,多余\n"
    )
    _, errors = parse_table(text)
    assert [(e.line, e.field) for e in errors] == [(6, "category"), (7, "rule")]
    assert "6 cells" in errors[1].message
