"""The filing receipt (备案回执): its content, and a printable HTML page of it."""

from __future__ import annotations

import html
from typing import Any

from svc_common.districts import DISTRICTS

from eia_svc.registrations.rules import CST

NOTICE = (
    "本项目已完成环境影响登记表备案。备案不需审批；事后抽查发现备案信息不实的，"
    "备案将被撤销。 Filed online with no approval; a false filing found by a "
    "post-hoc check is revoked."
)


def receipt_of(r: Any, project_type_name: str | None = None) -> dict[str, Any]:
    """Receipt fields of a registration row (attribute access)."""
    return {
        "filing_no": r.filing_no,
        "filing_id": r.id,
        "status": r.status,
        "project_name": r.project_name,
        "enterprise_name": r.enterprise_name,
        "uscc": r.uscc,
        "district": r.district,
        "district_name": DISTRICTS.get(r.district, r.district),
        "project_type": r.project_type,
        "project_type_name": project_type_name,
        "filed_at": r.filed_at.isoformat(),
        "filed_at_local": r.filed_at.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S"),
        "notice": NOTICE,
    }


LABELS = [
    ("filing_no", "备案号 Filing number"),
    ("status", "状态 Status"),
    ("project_name", "项目名称 Project"),
    ("enterprise_name", "建设单位 Enterprise"),
    ("uscc", "统一社会信用代码 USCC"),
    ("district_name", "所在区 District"),
    ("project_type", "项目类别 Project type"),
    ("project_type_name", "类别名称 Type name"),
    ("filed_at_local", "备案时间 Filed (Asia/Shanghai)"),
]


def render_html(receipt: dict[str, Any]) -> str:
    rows = "\n".join(
        f"<tr><th>{html.escape(label)}</th><td>{html.escape(str(receipt.get(k) or ''))}</td></tr>"
        for k, label in LABELS
    )
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>建设项目环境影响登记表备案回执 {html.escape(receipt['filing_no'])}</title>"
        "<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}"
        "th{text-align:left;padding-right:1em}@media print{button{display:none}}</style>"
        "</head><body><h1>建设项目环境影响登记表备案回执</h1>"
        f"<table>{rows}</table><p>{html.escape(NOTICE)}</p>"
        '<button onclick="window.print()">打印 Print</button></body></html>'
    )
