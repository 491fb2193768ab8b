"""/eia/registrations (filer), the receipt, and the post-hoc review queue (officer)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import Select, select
from svc_common.audit import record_audit
from svc_common.auth import Principal, require
from svc_common.db import Database
from svc_common.errors import IllegalTransition, NotFound, Problem, field_error
from svc_common.events.schemas.eia import RegistrationFormRevoked
from svc_common.outbox import emit
from svc_common.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, decode_cursor, encode_cursor
from svc_common.service import get_db, get_runtime
from svc_common.types import kg_to_tonnes

from eia_svc.classification.service import all_types, find_type
from eia_svc.clock import Clock, get_clock
from eia_svc.control_units.service import all_units
from eia_svc.parks.service import all_parks
from eia_svc.registrations import receipt, service
from eia_svc.registrations.models import RegistrationRow
from eia_svc.registrations.rules import BulkFormatError, UnsupportedBulkType, parse_bulk
from eia_svc.registrations.schemas import (
    BulkResult,
    BulkRowResult,
    Receipt,
    RegistrationFiled,
    RegistrationIn,
    RegistrationOut,
    RevokeIn,
)
from eia_svc.screening.service import lookups, raise_if_any
from eia_svc.settings import Settings

router = APIRouter(prefix="/eia", tags=["registrations"])
READ_ROLES = ("filer", "officer", "admin", "auditor")


class PayloadTooLarge(Problem):
    status, code, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(Problem):
    status, code, title = 415, "unsupported-media-type", "Unsupported media type"


def _settings(request: Request) -> Settings:
    s = get_runtime(request).settings
    assert isinstance(s, Settings)
    return s


def receipt_url(rid: str) -> str:
    return f"/eia/registrations/{rid}/receipt"


def _out(r: RegistrationRow) -> RegistrationOut:
    return RegistrationOut(
        id=r.id,
        filing_no=r.filing_no,
        filer=r.filer,
        row_key=r.row_key,
        project_name=r.project_name,
        uscc=r.uscc,
        enterprise_name=r.enterprise_name,
        district=r.district,
        project_type=r.project_type,
        industry_code=r.industry_code,
        vocs_increment_t=kg_to_tonnes(r.vocs_increment_kg),
        control_unit=r.control_unit,
        park_id=r.park_id,
        status=r.status,
        review_status=r.review_status,
        filed_at=r.filed_at.isoformat(),
        revoked_at=r.revoked_at.isoformat() if r.revoked_at else None,
        revoke_reason=r.revoke_reason,
        receipt_url=receipt_url(r.id),
    )


def may_see(p: Principal, r: RegistrationRow) -> bool:
    """A filer sees only its own filings; an officer those of its districts."""
    if p.role == "filer":
        return r.filer == p.sub
    if p.role == "officer":
        return p.may_act_in(r.district)
    return p.role in ("admin", "auditor")


async def _visible(db: Database, p: Principal, rid: str) -> RegistrationRow:
    async with db.session() as s:
        r = await s.get(RegistrationRow, rid)
    if r is None or not may_see(p, r):
        raise NotFound(f"registration {rid} not found")
    return r


@router.post("/registrations", status_code=201, response_model=RegistrationFiled)
async def file_registration(
    body: RegistrationIn,
    request: Request,
    principal: Principal = Depends(require("filer", "admin")),
    db: Database = Depends(get_db),
    clock: Clock = Depends(get_clock),
) -> JSONResponse:
    """File a registration-form project at once, with no human approval."""
    async with db.session() as s:
        types, units = await lookups(s, service.facts_of(body))
        parks = await all_parks(s) if body.park_id else {}
    raise_if_any(service.screen(body, types, units, parks))
    industry = service.industry_of_row(body, types)
    checked = service.Checked(0, body.row_key, data=body, industry_code=industry)
    async with db.transaction() as s:
        (o,) = await service.file_rows(
            s, principal.sub, [checked], clock(), _settings(request).posthoc_sample_rate
        )
        if o.status == "filed":
            record_audit(
                s,
                principal,
                "registration.file",
                "registration",
                o.filing_id,
                {"filing_no": o.filing_no, "row_key": body.row_key},
            )
    row = await _visible(db, principal, o.filing_id)
    pt = types.get(row.project_type)
    result = RegistrationFiled(
        filing_id=o.filing_id,
        filing_no=o.filing_no,
        replayed=o.status == "replayed",
        receipt=Receipt(**receipt.receipt_of(row, pt.name if pt else None)),
        receipt_url=receipt_url(o.filing_id),
    )
    status = 200 if o.status == "replayed" else 201
    return JSONResponse(result.model_dump(mode="json"), status_code=status)


@router.post(
    "/registrations:bulk",
    response_model=BulkResult,
    openapi_extra={
        "requestBody": {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            }
        }
    },
)
async def file_registrations_bulk(
    request: Request,
    principal: Principal = Depends(require("filer", "admin")),
    db: Database = Depends(get_db),
    clock: Clock = Depends(get_clock),
) -> Response:
    """File up to 10,000 rows (CSV with a header, or JSON lines): one result per
    row; valid rows are filed even when others fail; a row whose row_key was
    filed before returns its original filing."""
    settings = _settings(request)
    try:
        raw = parse_bulk(
            await request.body(), request.headers.get("content-type", ""), settings.bulk_max_rows
        )
    except UnsupportedBulkType as exc:
        raise UnsupportedMediaType(str(exc)) from exc
    except BulkFormatError as exc:
        raise field_error("body", str(exc)) from exc
    if len(raw) > settings.bulk_max_rows:
        raise PayloadTooLarge(
            f"a bulk upload may have at most {settings.bulk_max_rows} rows",
            max_rows=settings.bulk_max_rows,
        )
    async with db.session() as s:
        types, units, parks = await all_types(s), await all_units(s), await all_parks(s)
    checked = service.check_rows(raw, types, units, parks)
    valid = [c for c in checked if c.data is not None]
    async with db.transaction() as s:
        outcomes = await service.file_rows(
            s, principal.sub, valid, clock(), settings.posthoc_sample_rate
        )
        filed = [o for o in outcomes if o.status == "filed"]
        record_audit(
            s,
            principal,
            "registration.bulk_file",
            "registration",
            "bulk",
            {
                "rows": len(raw),
                "filed": len(filed),
                "replayed": len(outcomes) - len(filed),
                "rejected": len(checked) - len(valid),
                "filing_nos": [filed[0].filing_no, filed[-1].filing_no] if filed else [],
            },
        )
    by_index = {o.index: o for o in outcomes}
    results = []
    for c in checked:
        o = by_index.get(c.index)
        line = raw[c.index].line
        if o is None:
            results.append(
                BulkRowResult(row=line, row_key=c.row_key, status="rejected", errors=c.errors or [])
            )
        else:
            results.append(
                BulkRowResult(
                    row=line,
                    row_key=c.row_key,
                    status=o.status,
                    filing_id=o.filing_id,
                    filing_no=o.filing_no,
                )
            )
    n_filed = sum(1 for r in results if r.status == "filed")
    n_rej = sum(1 for r in results if r.status == "rejected")
    result = BulkResult(
        rows=len(results),
        filed=n_filed,
        replayed=len(results) - n_filed - n_rej,
        rejected=n_rej,
        results=results,
    )
    # Serialised once here: FastAPI would validate 10,000 rows again.
    return Response(result.model_dump_json(), media_type="application/json")


@router.get("/registrations/{rid}", response_model=RegistrationOut)
async def get_registration(
    rid: str,
    principal: Principal = Depends(require(*READ_ROLES)),
    db: Database = Depends(get_db),
) -> RegistrationOut:
    return _out(await _visible(db, principal, rid))


@router.get("/registrations/{rid}/receipt", response_class=HTMLResponse)
async def get_receipt(
    rid: str,
    principal: Principal = Depends(require(*READ_ROLES)),
    db: Database = Depends(get_db),
) -> HTMLResponse:
    """The printable receipt (备案回执)."""
    r = await _visible(db, principal, rid)
    async with db.session() as s:
        pt = await find_type(s, r.project_type)
    return HTMLResponse(receipt.render_html(receipt.receipt_of(r, pt.name if pt else None)))


@router.get("/registrations", response_model=Page[RegistrationOut])
async def list_registrations(
    district: str | None = Query(None, pattern=r"^\d{6}$"),
    cursor: str | None = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    principal: Principal = Depends(require(*READ_ROLES)),
    db: Database = Depends(get_db),
) -> Page[RegistrationOut]:
    """Newest first; a filer sees only its own filings, an officer its districts'."""
    q = select(RegistrationRow)
    if principal.role == "filer":
        q = q.where(RegistrationRow.filer == principal.sub)
    elif principal.role == "officer":
        if district:
            principal.require_district(district)
        q = q.where(RegistrationRow.district.in_(sorted(principal.districts)))
    if district:
        q = q.where(RegistrationRow.district == district)
    return await _page(db, q, cursor, limit)


async def _page(
    db: Database, q: Select[Any], cursor: str | None, limit: int
) -> Page[RegistrationOut]:
    """Pages in filing-number order; the cursor is the last number returned."""
    after = decode_cursor(cursor)
    if after:
        q = q.where(RegistrationRow.filing_no > str(after))
    q = q.order_by(RegistrationRow.filing_no).limit(limit + 1)
    async with db.session() as s:
        rows = list((await s.execute(q)).scalars())
    nxt = encode_cursor(rows[limit - 1].filing_no) if len(rows) > limit else None
    return Page[RegistrationOut](items=[_out(r) for r in rows[:limit]], next_cursor=nxt)


@router.get("/review-queue", response_model=Page[RegistrationOut])
async def review_queue(
    district: str | None = Query(None, pattern=r"^\d{6}$"),
    cursor: str | None = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    principal: Principal = Depends(require("officer", "admin", "auditor")),
    db: Database = Depends(get_db),
) -> Page[RegistrationOut]:
    """Auto-filings sampled for a post-hoc check (事后抽查) and not yet checked."""
    q = select(RegistrationRow).where(RegistrationRow.review_status == "pending")
    if district:
        principal.require_district(district)
        q = q.where(RegistrationRow.district == district)
    elif principal.role == "officer":
        q = q.where(RegistrationRow.district.in_(sorted(principal.districts)))
    return await _page(db, q, cursor, limit)


async def _for_officer(db: Database, principal: Principal, rid: str) -> RegistrationRow:
    async with db.session() as s:
        r = await s.get(RegistrationRow, rid)
    if r is None:
        raise NotFound(f"registration {rid} not found")
    principal.require_district(r.district)
    return r


@router.post("/review-queue/{rid}/clear", response_model=RegistrationOut)
async def clear_check(
    rid: str,
    principal: Principal = Depends(require("officer", "admin")),
    db: Database = Depends(get_db),
) -> RegistrationOut:
    """The post-hoc check found the filing true: it leaves the queue."""
    await _for_officer(db, principal, rid)
    async with db.transaction() as s:
        r = await s.get(RegistrationRow, rid, with_for_update=True)
        assert r is not None
        if r.review_status != "pending":
            raise IllegalTransition(
                "registration check",
                str(r.review_status or "not sampled"),
                "clear",
                ["revoke"] if r.status == "filed" else [],
            )
        r.review_status, r.reviewed_by = "cleared", principal.sub
        record_audit(s, principal, "registration.check_clear", "registration", rid, None)
    return _out(r)


@router.post("/registrations/{rid}/revoke", response_model=RegistrationOut)
async def revoke_registration(
    rid: str,
    body: RevokeIn,
    principal: Principal = Depends(require("officer", "admin")),
    db: Database = Depends(get_db),
    clock: Clock = Depends(get_clock),
) -> RegistrationOut:
    """Revoke a false filing (备案不实): status revoked, RegistrationFormRevoked."""
    await _for_officer(db, principal, rid)
    async with db.transaction() as s:
        r = await s.get(RegistrationRow, rid, with_for_update=True)
        assert r is not None
        if r.status != "filed":
            raise IllegalTransition("registration", r.status, "revoke", [])
        r.status, r.revoked_at, r.revoked_by, r.revoke_reason = (
            "revoked",
            clock(),
            principal.sub,
            body.reason,
        )
        if r.review_status is not None:
            r.review_status, r.reviewed_by = "revoked", principal.sub
        emit(
            s,
            RegistrationFormRevoked(
                filing_id=r.id,
                filing_no=r.filing_no,
                uscc=r.uscc,
                district=r.district,
                reason=body.reason,
                revoked_by=principal.sub,
            ),
        )
        record_audit(
            s, principal, "registration.revoke", "registration", rid, {"reason": body.reason}
        )
    return _out(r)
