"""Public verification of receipts (备案回执公开核验): no login, only the
filing number and its check code (校验码), as printed on the receipt."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from svc_common.db import Database
from svc_common.errors import NotFound
from svc_common.i18n import said_as
from svc_common.service import get_db

from eia_svc.registrations import receipt
from eia_svc.registrations.models import RegistrationRow
from eia_svc.registrations.queries import ReceiptKeys, receipt_keys
from eia_svc.registrations.router import receipt_document, receipt_response
from eia_svc.registrations.schemas import ReceiptVerification

router = APIRouter(prefix="/eia/public", tags=["public receipt verification"])

#: A filing number as a receipt prints it (DJB-120119-2026-000001); one that
#: is none is said so in words, not as the pattern.
FILING_NO_PATTERN = said_as(
    r"^[A-Z]{2,10}-[0-9]{6}-[0-9]{4}-[0-9]{1,9}$",
    "is not a filing number as a receipt prints it, such as DJB-120119-2026-000001",
    "不是回执上的备案号，备案号形如 DJB-120119-2026-000001",
)
FILING_NO = Path(pattern=FILING_NO_PATTERN, max_length=40)
CODE = Query(min_length=4, max_length=40, description="the check code printed on the receipt")


def public_url(filing_no: str, code: str, fmt: str = "html") -> str:
    suffix = "&format=pdf" if fmt == "pdf" else ""
    return f"/eia/public/receipts/{filing_no}/receipt?code={code}{suffix}"


async def _authentic(db: Database, keys: ReceiptKeys, filing_no: str, code: str) -> RegistrationRow:
    """The filing when the code is its own; the same 404 for an unknown number
    and a wrong code, so the endpoint tells nothing to someone guessing."""
    if not receipt.code_matches(keys.secret, filing_no, code):
        raise NotFound(receipt.unverified_message())
    async with db.session() as s:
        r = await s.scalar(select(RegistrationRow).where(RegistrationRow.filing_no == filing_no))
    if r is None:
        raise NotFound(receipt.unverified_message())
    return r


@router.get("/receipts/{filing_no}", response_model=ReceiptVerification)
async def verify_receipt(
    filing_no: str = FILING_NO,
    code: str = CODE,
    db: Database = Depends(get_db),
    keys: ReceiptKeys = Depends(receipt_keys),
) -> ReceiptVerification:
    """Is this receipt authentic, and is the filing still in force? A revoked
    filing answers with the date and the reason of its revocation."""
    r = await _authentic(db, keys, filing_no, code)
    doc = receipt.receipt_of(r)
    clean = keys.code(filing_no)
    return ReceiptVerification(
        authentic=True,
        filing_no=r.filing_no,
        status=r.status,
        status_text=doc["status_text"],
        authority=doc["authority"],
        project_name=r.project_name,
        enterprise_name=r.enterprise_name,
        district_name=doc["district_name"],
        filed_at_local=doc["filed_at_local"],
        revoked_at_local=doc["revoked_at_local"],
        revoke_reason=r.revoke_reason,
        receipt_url=public_url(filing_no, clean),
        receipt_pdf_url=public_url(filing_no, clean, "pdf"),
    )


@router.get(
    "/receipts/{filing_no}/receipt",
    response_class=HTMLResponse,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def public_receipt(
    filing_no: str = FILING_NO,
    code: str = CODE,
    format: Literal["html", "pdf"] = "html",
    db: Database = Depends(get_db),
    keys: ReceiptKeys = Depends(receipt_keys),
) -> Response:
    """The receipt itself, for whoever holds its number and check code."""
    r = await _authentic(db, keys, filing_no, code)
    doc = await receipt_document(db, r, keys)
    return receipt_response(doc, format, public_url(filing_no, keys.code(filing_no), "pdf"))
