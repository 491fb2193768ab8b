"""Public pages, no sign-in: verify a receipt by filing number and check
code; the public quota register once quota-svc publishes it."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from svc_common.i18n import msg

from console.api import ApiError, Services
from console.deps import services
from console.web import render

router = APIRouter(prefix="/console/public")
_NO = re.compile(r"^[A-Z]{2,10}-\d{6}-\d{4}-\d{1,9}$")


@router.get("/verify")
async def verify(
    request: Request,
    no: str = Query("", max_length=60),
    code: str = Query("", max_length=40),
    api: Services = Depends(services),
) -> Response:
    no, code = no.strip().upper(), code.strip()
    result: dict[str, Any] | None = None
    problem: str | None = None
    if no or code:
        if not _NO.match(no):
            problem = msg(
                "A filing number looks like DJB-120119-2026-000123.",
                "备案号的格式如 DJB-120119-2026-000123。",
            )
        elif not code:
            problem = msg("Enter the check code printed on the receipt.", "请填写回执上的校验码。")
        else:
            try:
                result = await api.get(
                    "eia", f"/eia/public/receipts/{no}", token=None, params={"code": code}
                )
            except ApiError as exc:
                problem = exc.message
    return render(request, "public/verify.html", no=no, code=code, result=result, problem=problem)


@router.get("/receipt/{no}")
async def receipt(
    no: str,
    code: str = Query(..., max_length=40),
    format: str = Query("html", pattern="^(html|pdf)$"),
    api: Services = Depends(services),
) -> Response:
    """The receipt itself through the console (the public reaches the console,
    not eia-svc)."""
    if not _NO.match(no):
        return Response(status_code=404)
    r = await api.request(
        "GET",
        "eia",
        f"/eia/public/receipts/{no}/receipt",
        token=None,
        params={"code": code, "format": format},
    )
    body = r.content
    media = r.headers.get("content-type", "text/html")
    if r.status_code == 200 and format == "html":
        # Its PDF link goes through the console as well.
        body = body.replace(
            f"/eia/public/receipts/{no}/receipt?".encode(),
            f"/console/public/receipt/{no}?".encode(),
        )
        # Its print button works by the console's script (no inline script).
        body = body.replace(
            b"</head>", b'<script src="/console/static/console.js" defer></script></head>', 1
        )
    headers = {}
    if "content-disposition" in r.headers:
        headers["content-disposition"] = r.headers["content-disposition"]
    return Response(body, status_code=r.status_code, media_type=media, headers=headers)


@router.get("/register")
async def register(request: Request, api: Services = Depends(services)) -> Response:
    """The public quota register (总量指标公示). Until quota-svc publishes
    `GET /quota/public/register` the page says so instead of failing."""
    data: Any = None
    available = True
    problem: str | None = None
    try:
        data = await api.get("quota", "/quota/public/register", token=None)
    except ApiError as exc:
        if exc.status in (404, 405):
            available = False
        else:
            problem = exc.message
    columns, rows = _table(data)
    return render(
        request,
        "public/register.html",
        available=available,
        problem=problem,
        columns=columns,
        rows=rows,
        meta={k: v for k, v in data.items() if v is not None and not isinstance(v, list | dict)}
        if isinstance(data, dict)
        else {},
    )


def _table(data: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """Whatever list of records the register answers with, as a table: the
    page shows the register's own field names, so it needs no change when
    the register grows a column."""
    items: Any = data
    if isinstance(data, dict):
        items = next(
            (
                v
                for k in ("items", "entries", "rows", "pools")
                if isinstance(v := data.get(k), list)
            ),
            None,
        )
        if items is None:
            items = next((v for v in data.values() if isinstance(v, list)), [])
    if not isinstance(items, list):
        return [], []
    rows = [r for r in items[:5000] if isinstance(r, dict)]
    columns: list[str] = []
    for r in rows:
        for k, v in r.items():
            if k not in columns and not isinstance(v, dict | list):
                columns.append(k)
    return columns[:20], rows
