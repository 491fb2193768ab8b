"""The receipt's HTML: no inline handler, a print script of its own (marked,
so the console can put its own in place: its CSP refuses inline scripts),
and a revoked receipt does not say the project is filed."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from eia_svc.registrations.receipt import receipt_of, render_html


def _row(status: str) -> SimpleNamespace:
    at = dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC)
    return SimpleNamespace(
        id="r1",
        filing_no="DJB-120119-2026-000123",
        status=status,
        review_status="revoked" if status == "revoked" else None,
        project_name="涂装线",
        enterprise_name="某公司",
        uscc="91120225MA05XXXX1A",
        district="120119",
        project_type="x",
        industry_code="C3360",
        vocs_increment_kg=1500,
        control_unit=None,
        park_id=None,
        filed_at=at,
        revoked_at=at if status == "revoked" else None,
        revoke_reason="信息不实" if status == "revoked" else None,
    )


def test_the_print_button_has_no_inline_handler_and_revoked_is_not_filed() -> None:
    filed = render_html(receipt_of(_row("filed"), secret="s" * 32))
    assert "onclick" not in filed and "data-print" in filed
    # Served here alone, the button works by the receipt's own script.
    assert filed.count("<script data-receipt-print>") == 1 and "window.print()" in filed
    assert "本项目已完成环境影响登记表备案" in filed
    revoked = render_html(receipt_of(_row("revoked"), secret="s" * 32))
    assert "本项目已完成环境影响登记表备案" not in revoked and "已被撤销" in revoked


def test_the_industry_is_named_when_it_is_the_projects_type() -> None:
    """国民经济行业 reads C1431 米、面制品制造 (the project type's class name),
    not the bare code; an industry other than the type keeps its code."""
    row = _row("filed")
    row.project_type = row.industry_code = "C1431"
    page = render_html(receipt_of(row, "米、面制品制造", secret="s" * 32))
    assert page.count("C1431 米、面制品制造") == 2  # the project type and the industry
    row.industry_code = "C3360"
    page = render_html(receipt_of(row, "米、面制品制造", secret="s" * 32))
    assert "<td>C3360</td>" in page


def test_a_long_unbroken_name_wraps_in_its_cell_on_a_phone() -> None:
    """A project or enterprise name holding a long token (an English trade
    name, a model number) pushed the receipt to 429 px at 375 px: every text
    cell may break anywhere, and the label column is narrower on a phone."""
    page = render_html(receipt_of(_row("filed"), secret="s" * 32))
    css = page.split("<style>", 1)[1].split("</style>", 1)[0]
    cells = css.split("th,td{", 1)[1].split("}", 1)[0]
    assert "overflow-wrap:anywhere" in cells
    assert "@media (max-width:30em){th{width:6em}}" in css
