"""/eia/project-types and /eia/classify."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from svc_common.audit import record_audit
from svc_common.auth import Principal, require, require_citywide
from svc_common.bulk import BulkReport, BulkReportBuilder, BulkResult
from svc_common.db import Database, hold_lock
from svc_common.errors import PayloadTooLarge, field_error
from svc_common.i18n import msg
from svc_common.readable import escaped
from svc_common.service import get_db
from svc_common.uploads import csv_text, upload_openapi

from eia_svc.classification import service
from eia_svc.classification.rules import classify
from eia_svc.classification.schemas import (
    ClassifyRequest,
    ClassifyResult,
    ProjectTypeOut,
)

router = APIRouter(prefix="/eia", tags=["classification"])
MAX_IMPORT_BYTES = 2_000_000
READERS = ("filer", "officer", "admin", "auditor", "investment")


@router.get("/project-types", response_model=list[ProjectTypeOut])
async def list_project_types(
    _: Principal = Depends(require(*READERS)), db: Database = Depends(get_db)
) -> list[ProjectTypeOut]:
    async with db.session() as s:
        types = await service.all_types(s)
    return [ProjectTypeOut(**t.__dict__) for t in types.values()]


@router.post("/classify", response_model=ClassifyResult)
async def classify_project(
    body: ClassifyRequest,
    _: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> ClassifyResult:
    async with db.session() as s:
        pt = await service.find_type(s, body.project_type)
    if pt is None:
        raise field_error(
            "project_type",
            # Not found in the table loaded here, which may be the shipped
            # sample: the code may well be in the official 名录.
            msg(
                f"{escaped(body.project_type)} is not in the classification table loaded in "
                "this system: check the loaded table (the shipped one is a sample; an "
                "administrator imports the official 名录)",
                f"{escaped(body.project_type)} 不在本系统已载入的分类管理名录中：请核对已载入的名录"
                "（系统自带的名录仅为样表，正式名录由管理员导入）",
            ),
        )
    c = classify(pt)
    return ClassifyResult(
        project_type=pt.code,
        name=pt.name,
        category=pt.category,
        needs_filing=c.needs_filing,
        rule=pt.rule,
        explanation=c.explanation,
    )


@router.post(
    "/project-types:import",
    response_model=BulkReport,
    openapi_extra=upload_openapi(
        max_rows=10_000,
        ndjson=False,
        xlsx=False,
        per_row=False,
        columns="code, name, industry_code, category, rule",
    ),
)
async def import_project_types(
    request: Request,
    principal: Principal = Depends(require_citywide("admin")),
    db: Database = Depends(get_db),
) -> Response:
    """Replace the whole table with a CSV (code,name,industry_code,category,rule);
    all or nothing: any bad line refuses the upload (422, every line named).
    The answer is the shared bulk report: each line `created` (a new code),
    `updated` (changed) or `replayed` (as it was)."""
    raw = await request.body()
    if len(raw) > MAX_IMPORT_BYTES:
        raise PayloadTooLarge(
            msg(
                f"the table may have at most {MAX_IMPORT_BYTES} bytes",
                f"名录不得超过 {MAX_IMPORT_BYTES} 字节",
            ),
            max_bytes=MAX_IMPORT_BYTES,
        )
    text = csv_text(request.headers.get("content-type", ""), raw)
    types = service.parse_or_422(text)
    async with db.transaction() as s:
        # Two replacements at once take turns: the second replaces the first.
        await hold_lock(s, "eia.project_types", "table")
        before = await service.all_types(s)
        await service.replace_table(s, types)
        record_audit(
            s, principal, "project_types.import", "project_types", "table", {"rows": len(types)}
        )
    report = BulkReportBuilder()
    for row, t in enumerate(types, start=1):
        old = before.get(t.code)
        result: BulkResult = "created" if old is None else "replayed" if old == t else "updated"
        report.add(row, result, row_key=t.code, id=t.code)
    return report.response()
