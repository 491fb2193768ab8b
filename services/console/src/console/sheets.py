"""Spreadsheets (.xlsx, openpyxl) the console offers for download: a sheet
is a table with its header in bold (frozen as it scrolls), the lines that
say what it is above it, each text through `svc_common.uploads.sheet_cell`
(no formula, no control character), numbers as numbers."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from svc_common.uploads import sheet_cell


@dataclass(frozen=True)
class Sheet:
    title: str
    header: Sequence[str]
    rows: Sequence[Sequence[Any]]
    #: A column's number format by its index (0: the first), as its page
    #: shows it (tonnes to three decimals: "#,##0.000").
    formats: Mapping[int, str] = field(default_factory=dict)
    #: Lines above the table (what it is, its period), one cell each.
    above: Sequence[str] = ()


def _cell(v: Any) -> Any:
    # Exact values (Decimal, as the API gives them), never binary floats.
    return v if isinstance(v, Decimal) else sheet_cell(v)


def to_xlsx(sheets: Sequence[Sheet]) -> bytes:
    """The workbook of `sheets`, in their order, as bytes."""
    wb = Workbook()
    first = wb.active
    assert first is not None
    wb.remove(first)
    for s in sheets:
        ws = wb.create_sheet(s.title[:31])
        for line in s.above:
            ws.append([sheet_cell(line)])
        if s.above:
            ws.append([])
        head = len(s.above) + (1 if s.above else 0) + 1
        ws.append([sheet_cell(label) for label in s.header])
        for cell in ws[head]:
            cell.font = Font(bold=True)
        for row in s.rows:
            ws.append([_cell(v) for v in row])
        for i, shown in s.formats.items():
            for (cell,) in ws.iter_rows(min_row=head + 1, min_col=i + 1, max_col=i + 1):
                cell.number_format = shown
        for i, label in enumerate(s.header, start=1):
            ws.column_dimensions[ws.cell(head, i).column_letter].width = max(10, len(label) * 2)
        ws.freeze_panes = ws.cell(head + 1, 1).coordinate
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
