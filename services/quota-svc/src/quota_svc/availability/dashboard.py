"""The read-only dashboard page (总量看板): one server-rendered HTML table."""

from __future__ import annotations

import datetime as dt
from html import escape

from svc_common.calendar import CHINA_STANDARD_TIME
from svc_common.types import kg_to_tonnes

from quota_svc.availability.rules import Availability, ListedPool
from quota_svc.ledger import rules

_STYLE = """
body{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;min-width:60rem}
th,td{border:1px solid #ccc;padding:.35rem .6rem}
td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.short td.avail{color:#b00020;font-weight:600}
caption{text-align:left;font-size:1.2rem;margin-bottom:.6rem}
"""


def render(rows: list[tuple[ListedPool, Availability]], pollutant: str, now: dt.datetime) -> str:
    body = []
    for pool, a in rows:
        b = a.balance
        cls = ' class="short"' if b.available <= 0 or a.overdue_debt_kg else ""
        cells = [
            escape(pool.district),
            escape(rules.DISTRICTS.get(pool.district, "")),
            f'<td class="n">{kg_to_tonnes(b.credited)}</td>',
            f'<td class="n avail">{kg_to_tonnes(b.available)}</td>',
            f'<td class="n">{kg_to_tonnes(b.reserved)}</td>',
            f'<td class="n">{kg_to_tonnes(b.allocated)}</td>',
            f'<td class="n">{kg_to_tonnes(a.reclaimed_kg)}</td>',
            f'<td class="n">{rules.hundredths_to_ratio(a.offset_ratio_hundredths)}</td>',
            f'<td class="n">{kg_to_tonnes(a.max_project_increment_kg)}</td>',
            f'<td class="n{" avail" if a.overdue_debt_kg else ""}">'
            f"{kg_to_tonnes(a.debt_kg)}{' 逾期' if a.overdue_debt_kg else ''}</td>",
        ]
        tds = "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in cells)
        body.append(f"<tr{cls}>{tds}</tr>")
    stamp = now.astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m-%d %H:%M")
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>{escape(pollutant)} 总量指标看板</title><style>{_STYLE}</style></head>
<body><table>
<caption>{escape(pollutant)} 排放总量指标 — 各区可用量 (t/a), {stamp} 北京时间</caption>
<thead><tr><th>区划代码</th><th>区</th><th>总量 credited</th><th>可用 available</th>
<th>预留 reserved</th><th>已分配 allocated</th><th>收回 reclaimed</th><th>倍量 ratio</th>
<th>最大项目增量 max project increment</th><th>先用后补欠量 debt</th></tr></thead>
<tbody>{"".join(body)}</tbody></table></body></html>"""
