"""Reading registrations as their callers may see them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import Select
from svc_common.auth import Principal
from svc_common.db import Database
from svc_common.errors import NotFound
from svc_common.i18n import msg
from svc_common.pagination import Page, decode_cursor, keyset_after, keyset_page
from svc_common.service import get_runtime
from svc_common.types import kg_to_tonnes

from eia_svc.registrations import receipt
from eia_svc.registrations.models import RegistrationRow
from eia_svc.registrations.schemas import RegistrationOut
from eia_svc.settings import Settings


@dataclass(frozen=True)
class ReceiptKeys:
    """What a receipt needs beyond the row: the check-code secret and the
    public address printed in its verification URL."""

    secret: str
    public_url: str

    def code(self, filing_no: str) -> str:
        return receipt.check_code(self.secret, filing_no)

    def verify_url(self, filing_no: str) -> str:
        return receipt.verify_url(self.public_url, filing_no, self.code(filing_no))


async def receipt_keys(request: Request) -> ReceiptKeys:
    """Dependency: the service's receipt keys (async: a plain function dependency
    runs in a worker thread)."""
    s = get_runtime(request).settings
    assert isinstance(s, Settings)
    return ReceiptKeys(s.receipt_check_secret, s.public_url)


def receipt_url(rid: str) -> str:
    return f"/eia/registrations/{rid}/receipt"


def to_out(r: RegistrationRow, keys: ReceiptKeys) -> RegistrationOut:
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
        receipt_pdf_url=receipt_url(r.id) + "?format=pdf",
        check_code=keys.code(r.filing_no),
        verify_url=keys.verify_url(r.filing_no),
    )


def may_see(p: Principal, r: RegistrationRow) -> bool:
    """A filer sees only its own filings; every role only its districts'."""
    if p.role == "filer" and r.filer != p.sub:
        return False
    return p.role in ("filer", "officer", "admin", "auditor") and p.may_act_in(r.district)


async def visible(db: Database, p: Principal, rid: str) -> RegistrationRow:
    async with db.session() as s:
        r = await s.get(RegistrationRow, rid)
    if r is None or not may_see(p, r):
        raise NotFound(
            msg(
                msg(f"registration {rid} not found", f"未找到登记表备案 {rid}"),
                f"未找到登记表备案 {rid}",
            )
        )
    return r


async def page_of(
    db: Database, q: Select[Any], cursor: str | None, limit: int, keys: ReceiptKeys
) -> Page[RegistrationOut]:
    """Pages in filing-number order; the cursor is the last number returned."""
    after = decode_cursor(cursor, "str")
    if after is not None:
        q = q.where(keyset_after(after, RegistrationRow.filing_no))
    q = q.order_by(RegistrationRow.filing_no).limit(limit + 1)
    async with db.session() as s:
        rows = list((await s.execute(q)).scalars())
    return keyset_page(rows, limit, lambda r: r.filing_no, lambda r: to_out(r, keys))
