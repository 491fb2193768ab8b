"""The ranking as a spreadsheet (openpyxl) or CSV (UTF-8 with BOM, so Excel
on a Chinese Windows PC opens it right)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from svc_common.i18n import msg
from svc_common.uploads import csv_cell, csv_writer

from console import sheets
from console.web import dec


def columns() -> list[tuple[str, str]]:
    return [
        ("rank", msg("Rank", "排名")),
        ("district", msg("District code", "区划代码")),
        ("district_name", msg("District", "区")),
        ("kind", msg("Pool", "指标池")),
        ("park_id", msg("Park", "园区")),
        ("park_name", msg("Park name", "园区名称")),
        ("credited_t", msg("Credited (t/a)", "总量 (吨/年)")),
        ("reserved_t", msg("Reserved (t/a)", "预留 (吨/年)")),
        ("allocated_t", msg("Allocated (t/a)", "已分配 (吨/年)")),
        ("available_t", msg("Available (t/a)", "可用 (吨/年)")),
        ("reclaimed_t", msg("Reclaimed (t/a)", "收回 (吨/年)")),
        ("offset_ratio", msg("Offset ratio", "倍量替代比例")),
        ("max_project_increment_t", msg("Largest project (t/a)", "可容纳最大项目增量 (吨/年)")),
    ]


NUMERIC = {
    "credited_t",
    "reserved_t",
    "allocated_t",
    "available_t",
    "reclaimed_t",
    "offset_ratio",
    "max_project_increment_t",
}


def _shown(row: dict[str, Any], key: str) -> Any:
    """A cell as the page shows it: a pool's kind in words, not its code."""
    value = row.get(key)
    if key == "kind" and isinstance(value, str):
        return {
            "district": msg("district pool", "区级总量池"),
            "park": msg("park sub-pool", "园区子池"),
            "reserve": msg("priority reserve", "政府储备"),
        }.get(value, value)
    return value


def to_csv(rows: Sequence[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    w = csv_writer(buf)
    cols = columns()
    w.writerow([label for _, label in cols])
    for r in rows:
        # A park's name a spreadsheet would run as a formula shows as written.
        w.writerow(["" if r.get(k) is None else csv_cell(_shown(r, k)) for k, _ in cols])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(rows: Sequence[dict[str, Any]], title: str) -> bytes:
    cols = columns()
    # Tonnes show three decimals and a ratio two, as on the pages (1,770.000,
    # not 1770; 1.50, not 1.5).
    formats = {
        i: "#,##0.000" if k.endswith("_t") else "0.00"
        for i, (k, _) in enumerate(cols)
        if k in NUMERIC and (k.endswith("_t") or k == "offset_ratio")
    }
    return sheets.to_xlsx(
        [
            sheets.Sheet(
                title,
                [label for _, label in cols],
                [
                    [
                        dec(r.get(k)) if k in NUMERIC and r.get(k) is not None else _shown(r, k)
                        for k, _ in cols
                    ]
                    for r in rows
                ],
                formats,
            )
        ]
    )
