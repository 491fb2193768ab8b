"""Export (admin, auditor) and import into an empty ledger (admin)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request, Response
from svc_common.audit import record_audit
from svc_common.auth import Principal, require_citywide
from svc_common.db import Database
from svc_common.errors import Conflict, FieldError, PayloadTooLarge, Unprocessable
from svc_common.i18n import msg
from svc_common.service import get_db
from svc_common.types import utcnow
from svc_common.uploads import unzipped_bytes

from quota_svc.exports import service

router = APIRouter(prefix="/quota", tags=["export"])

_TYPES = {
    "csv": "application/zip",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


_FILE = {"type": "string", "format": "binary"}


@router.get(
    "/export",
    response_class=Response,
    responses={
        200: {
            "description": "A ZIP of CSV files (format=csv) or one XLSX workbook (format=xlsx)",
            "content": {media: {"schema": _FILE} for media in _TYPES.values()},
        }
    },
)
async def export_ledger(
    format: Literal["csv", "xlsx"] = "csv",
    principal: Principal = Depends(require_citywide("admin", "auditor")),
    db: Database = Depends(get_db),
) -> Response:
    """Everything the balances are made of: pools, lots and their movements,
    the journal, holdings, debts, each permit's reclaimable ceiling
    (permit_backing), reservations, swaps, trades, reclaims, adjustments
    and the district policy (settings, air quality and its ratio table,
    advance limits) — a ZIP of CSV files or one XLSX workbook, one sheet
    per table. Importing it into an empty ledger gives a live ledger:
    identical balances, ceilings and availability, every hold still to be
    allocated, released or expired."""
    # Every table as of one moment: read each on its own snapshot, a write
    # committed meanwhile tore the export (pools before a hold, lots after
    # it), and its own import refused it.
    async with db.snapshot() as s:
        data = await service.export_rows(s)
    body = service.to_zip(data) if format == "csv" else service.to_xlsx(data)
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    ext = "zip" if format == "csv" else "xlsx"
    return Response(
        body,
        media_type=_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="quota-ledger-{stamp}.{ext}"'},
    )


@router.post(
    "/import",
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "An export of this ledger: a ZIP of CSV files (format=csv) or an "
            "XLSX workbook (format=xlsx); the whole ledger, so a citywide token only.",
            "content": {media: {"schema": _FILE} for media in _TYPES.values()},
        }
    },
)
async def import_ledger(
    request: Request,
    format: Literal["csv", "xlsx"] = "csv",
    principal: Principal = Depends(require_citywide("admin")),
    db: Database = Depends(get_db),
) -> dict[str, int]:
    """Load an export into an empty ledger (a new installation, a restore)."""
    content = await request.body()
    if len(content) > service.MAX_IMPORT_BYTES:
        raise PayloadTooLarge(msg("the file is too large", "文件过大"))
    unzipped = unzipped_bytes(content)
    if unzipped is not None and unzipped > service.MAX_IMPORT_UNZIPPED:
        mib = service.MAX_IMPORT_UNZIPPED // 2**20
        raise PayloadTooLarge(
            msg(f"the file unpacks to more than {mib} MiB", f"文件解压后超过 {mib} MiB"),
            max_unzipped_bytes=service.MAX_IMPORT_UNZIPPED,
        )
    try:
        async with db.transaction() as s:
            counts = await service.import_into_empty(s, content, format)
            record_audit(s, principal, "quota.import", "ledger", "quota", counts)
    except service.ImportRefused as exc:
        raise Conflict(str(exc)) from exc
    except service.NothingToRestore as exc:
        # Sound but empty: no restore happened, so none is audited.
        said = str(exc)
        raise Unprocessable(
            said, errors=[FieldError(field="body", message=said, type="nothing_to_restore")]
        ) from exc
    return counts
