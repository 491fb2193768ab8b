"""/eia/registrations (filer), the receipt, and the post-hoc review queue (officer)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.audit import record_audit
from svc_common.auth import Principal, require
from svc_common.bulk import BulkReport, BulkReportBuilder, RowError, gc_paused
from svc_common.context import new_id
from svc_common.db import Database
from svc_common.districts import DistrictCode, district_named, district_problem
from svc_common.errors import Conflict, FieldError
from svc_common.guard import lone_surrogate_at
from svc_common.i18n import msg
from svc_common.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor, Page
from svc_common.service import get_db, get_runtime
from svc_common.types import ResourceId, utcnow
from svc_common.uploads import read_upload, upload_openapi, wants_spreadsheet
from svc_common.uscc import USCC

from eia_svc.classification.rules import ProjectType
from eia_svc.classification.service import all_types, find_type
from eia_svc.control_units.models import ControlUnitRow
from eia_svc.control_units.rules import ControlUnit
from eia_svc.control_units.service import all_units, find_unit
from eia_svc.parks.models import ParkRow
from eia_svc.parks.rules import Park
from eia_svc.parks.service import all_parks, find_park
from eia_svc.registrations import receipt, service
from eia_svc.registrations.models import RegistrationRow
from eia_svc.registrations.queries import (
    ReceiptKeys,
    page_of,
    receipt_keys,
    receipt_url,
    to_out,
    visible,
)
from eia_svc.registrations.schemas import (
    Receipt,
    RegistrationFiled,
    RegistrationIn,
    RegistrationOut,
)
from eia_svc.screening.service import raise_if_any
from eia_svc.settings import Settings

router = APIRouter(prefix="/eia", tags=["registrations"])
READ_ROLES = ("filer", "officer", "admin", "auditor")


def _settings(request: Request) -> Settings:
    s = get_runtime(request).settings
    assert isinstance(s, Settings)
    return s


class _CheckedInFull(APIRoute):
    """A route whose JSON body, when it fails its shape checks, is still
    screened on the fields that passed them (the bulk path's `check`): one
    422 names every problem, so a filing machine fixes a row once."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                body = exc.body
                if not isinstance(body, dict) or any(
                    tuple(e.get("loc", ()))[:1] != ("body",) for e in exc.errors()
                ):
                    raise
                # A text with a lone surrogate, which the model named, is not
                # looked up nor screened: no table nor answer can hold it.
                if lone_surrogate_at(body) is not None:
                    raise
                rt = get_runtime(request)
                assert isinstance(rt.settings, Settings)
                async with rt.db.session() as s:
                    types, units, parks = await _tables_for(s, body)
                limit = rt.settings.registration_form_vocs_limit_kg
                _, issues = service.check(body, types, units, parks, limit)
                raise_if_any(issues)
                raise

        return checked


async def _tables_for(
    s: AsyncSession, data: Mapping[str, Any]
) -> tuple[dict[str, ProjectType], dict[str, ControlUnit], dict[str, Park]]:
    """Just the table rows one submission names."""

    def text(name: str) -> str | None:
        v = data.get(name)
        return v.strip()[:100] if isinstance(v, str) and v.strip() else None

    types: dict[str, ProjectType] = {}
    units: dict[str, ControlUnit] = {}
    parks: dict[str, Park] = {}
    if (code := text("project_type")) and (pt := await find_type(s, code)):
        types[pt.code] = pt
    if (code := text("control_unit")) and (unit := await find_unit(s, code)):
        units[unit.code] = unit
    if (code := text("park_id")) and (park := await find_park(s, code)):
        parks[park.id] = park
    return types, units, parks


async def file_registration(
    body: RegistrationIn,
    request: Request,
    principal: Principal = Depends(require("filer", "admin")),
    db: Database = Depends(get_db),
    keys: ReceiptKeys = Depends(receipt_keys),
) -> JSONResponse:
    """File a registration-form project at once, with no human approval. A
    refusal (422) names every problem of the submission at once."""
    if not district_problem(body.district):
        principal.require_district(body.district)
    async with db.session() as s:
        types, units, parks = await _tables_for(s, body.model_dump())
    limit = _settings(request).registration_form_vocs_limit_kg
    raise_if_any(service.screened(body, types, units, parks, limit))
    industry = service.industry_of_row(body, types)
    checked = service.Checked(0, body.row_key, data=body, industry_code=industry)
    async with db.transaction() as s:
        (o,) = await service.file_rows(
            s, principal.sub, [checked], utcnow(), _settings(request).posthoc_sample_rate
        )
        if o.status == "created":
            record_audit(
                s,
                principal,
                "registration.file",
                "registration",
                o.filing_id,
                {"filing_no": o.filing_no, "row_key": body.row_key},
            )
    if o.status == "conflict":  # the key names another project's filing
        errors = [FieldError(field=e.field, message=e.message) for e in o.errors or []]
        raise Conflict(
            f"row_key: {errors[0].message}",
            errors=errors,
            filing_id=o.filing_id,
            filing_no=o.filing_no,
        )
    row = await visible(db, principal, o.filing_id)
    result = RegistrationFiled(
        filing_id=o.filing_id,
        filing_no=o.filing_no,
        replayed=o.status == "replayed",
        receipt=Receipt(**await receipt_document(db, row, keys)),
        receipt_url=receipt_url(o.filing_id),
        receipt_pdf_url=receipt_url(o.filing_id) + "?format=pdf",
        check_code=keys.code(o.filing_no),
        verify_url=keys.verify_url(o.filing_no),
    )
    status = 200 if o.status == "replayed" else 201
    return JSONResponse(result.model_dump(mode="json"), status_code=status)


def _in_scope(c: service.Checked, p: Principal) -> service.Checked:
    """A valid row for a district the caller may not act in fails, with why."""
    if c.data is None or p.may_act_in(c.data.district):
        return c
    place_en, place_zh = district_named(c.data.district)
    why = msg(f"you may not file in district {place_en}", f"无权在{place_zh}备案")
    return service.Checked(c.index, c.row_key, errors=[RowError(field="district", message=why)])


router.add_api_route(
    "/registrations",
    file_registration,
    methods=["POST"],
    status_code=201,
    response_model=RegistrationFiled,
    responses={
        200: {
            "model": RegistrationFiled,
            "description": "A row_key filed before with the same content: its original filing "
            "(`replayed`)",
        }
    },
    openapi_extra={"x-record-key": "/filing_id"},
    route_class_override=_CheckedInFull,
)


@router.post(
    "/registrations:bulk",
    response_model=BulkReport,
    openapi_extra=upload_openapi(
        max_rows=Settings.model_fields["bulk_max_rows"].default, error_report=True
    ),
)
async def file_registrations_bulk(
    request: Request,
    principal: Principal = Depends(require("filer", "admin")),
    db: Database = Depends(get_db),
) -> Response:
    """File up to 10,000 rows (CSV with a header in UTF-8 or GB18030/GBK, an
    .xlsx sheet, or JSON lines): one result per row (svc_common.bulk.BulkReport);
    valid rows are filed even when others fail; a row whose row_key was filed
    before with the same content is `replayed` with its original filing, with
    other content a `conflict`. With `Accept: application/vnd.openxmlformats-
    officedocument.spreadsheetml.sheet` (or `?report=xlsx`) the answer is a
    spreadsheet of the failing rows and why."""
    with gc_paused():
        return await _file_bulk(request, principal, db)


async def _file_bulk(request: Request, principal: Principal, db: Database) -> Response:
    settings = _settings(request)
    wants_spreadsheet(request)  # a bad `report` is refused before anything is written
    raw = await read_upload(request, max_rows=settings.bulk_max_rows, drop_empty_cells=True)
    async with db.session() as s:
        types, units, parks = await all_types(s), await all_units(s), await all_parks(s)
    checked = [
        _in_scope(c, principal)
        for c in service.check_rows(
            raw, types, units, parks, settings.registration_form_vocs_limit_kg
        )
    ]
    valid = [c for c in checked if c.data is not None]
    async with db.transaction() as s:
        outcomes = await service.file_rows(
            s,
            principal.sub,
            valid,
            utcnow(),
            settings.posthoc_sample_rate,
            batch_id=new_id(),
        )
        filed = [o for o in outcomes if o.status == "created"]
        replayed = sum(1 for o in outcomes if o.status == "replayed")
        record_audit(
            s,
            principal,
            "registration.bulk_file",
            "registration",
            "bulk",
            {
                "rows": len(raw),
                "filed": len(filed),
                "replayed": replayed,
                "conflicts": len(outcomes) - len(filed) - replayed,
                "rejected": len(checked) - len(valid),
                "filing_nos": [filed[0].filing_no, filed[-1].filing_no] if filed else [],
            },
        )
    report = BulkReportBuilder()
    for c in checked:
        if c.errors is not None:
            report.error(raw[c.index].row, c.errors, row_key=c.row_key)
    for o in outcomes:
        report.add(
            raw[o.index].row,
            o.status,
            row_key=o.row_key,
            id=o.filing_id,
            number=o.filing_no,
            errors=o.errors or (),
        )
    return report.respond(request, raw, "registrations")


@router.get("/registrations/{rid}", response_model=RegistrationOut)
async def get_registration(
    rid: ResourceId,
    principal: Principal = Depends(require(*READ_ROLES)),
    db: Database = Depends(get_db),
    keys: ReceiptKeys = Depends(receipt_keys),
) -> RegistrationOut:
    return to_out(await visible(db, principal, rid), keys)


async def receipt_document(
    db: Database, r: RegistrationRow, keys: ReceiptKeys
) -> dict[str, object]:
    """The receipt's fields, with the names of its project type, park and unit."""
    async with db.session() as s:
        pt = await find_type(s, r.project_type)
        park = await s.get(ParkRow, r.park_id) if r.park_id else None
        unit = await s.get(ControlUnitRow, r.control_unit) if r.control_unit else None
    return receipt.receipt_of(
        r,
        pt.name if pt else None,
        secret=keys.secret,
        public_url=keys.public_url,
        park_name=park.name if park else None,
        control_unit_name=unit.name if unit else None,
    )


def receipt_response(doc: dict[str, object], fmt: str, pdf_url: str) -> Response:
    if fmt == "pdf":
        name = f"receipt-{doc['filing_no']}.pdf"
        return Response(
            receipt.render_pdf(doc),
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{name}"'},
        )
    return HTMLResponse(receipt.render_html(doc, pdf_url=pdf_url))


@router.get(
    "/registrations/{rid}/receipt",
    response_class=HTMLResponse,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def get_receipt(
    rid: ResourceId,
    format: Literal["html", "pdf"] = "html",
    principal: Principal = Depends(require(*READ_ROLES)),
    db: Database = Depends(get_db),
    keys: ReceiptKeys = Depends(receipt_keys),
) -> Response:
    """The receipt (建设项目环境影响登记表备案回执) as printable HTML or as a PDF."""
    r = await visible(db, principal, rid)
    return receipt_response(
        await receipt_document(db, r, keys), format, receipt_url(rid) + "?format=pdf"
    )


@router.get("/registrations", response_model=Page[RegistrationOut])
async def list_registrations(
    district: DistrictCode | None = None,
    uscc: USCC | None = None,
    cursor: Cursor = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    principal: Principal = Depends(require(*READ_ROLES)),
    db: Database = Depends(get_db),
    keys: ReceiptKeys = Depends(receipt_keys),
) -> Page[RegistrationOut]:
    """In filing-number order; a filer sees only its own filings, an officer its
    districts'; `uscc` narrows to one enterprise."""
    q = select(RegistrationRow)
    if principal.role == "filer":
        q = q.where(RegistrationRow.filer == principal.sub)
    if district:
        principal.require_district(district)
        q = q.where(RegistrationRow.district == district)
    elif (scope := principal.district_scope()) is not None:
        q = q.where(RegistrationRow.district.in_(sorted(scope)))
    if uscc:
        q = q.where(RegistrationRow.uscc == uscc)
    return await page_of(db, q, cursor, limit, keys)
