"""The industry classification table's CSV (industry_code,name,category) is
read as eia-svc's project-type table is (svc_common.uploads.table_rows): a
row of more cells than the header is refused, and a row is named by the
line a text editor shows it on."""

from __future__ import annotations

import pytest
from permit_svc.enterprises.service import parse_industry_table
from svc_common.errors import Unprocessable

HEADER = "industry_code,name,category\n"


def _fields(text: str) -> list[tuple[str, str]]:
    with pytest.raises(Unprocessable) as refused:
        parse_industry_table(text)
    return [(e.field, e.message) for e in refused.value.errors]


def test_a_row_of_more_cells_than_the_header_is_refused() -> None:
    """An extra cell was dropped unseen (the row read as C2614's)."""
    [(field, message)] = _fields(HEADER + "C2614,有机化学原料制造,key,多余\n")
    assert field == "line 2.category"
    assert "4" in message and "3" in message and '"…,…"' in message
    # Quoted, the comma is the name's own.
    [row] = parse_industry_table(HEADER + 'C2614,"有机化学原料制造,其他",key\n')
    assert row.name == "有机化学原料制造,其他"


def test_a_row_is_named_by_its_physical_line() -> None:
    """A blank line and a quoted cell over two lines come before the bad
    row on line 6; it was named line 4 (the rows counted, not the lines)."""
    text = HEADER + '\nC2611,"无机酸\n制造",key\nC2612,无机碱制造,key\nC2613,无机盐制造,nope\n'
    assert [f for f, _ in _fields(text)] == ["line 6.category"]
    assert [f for f, _ in _fields(text.replace("nope", "key,多余"))] == ["line 6.category"]
