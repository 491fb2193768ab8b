"""Post-hoc checks (事后抽查): the officer's review queue, clearing and revoking."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select
from svc_common.audit import record_audit
from svc_common.auth import Principal, require
from svc_common.db import Database
from svc_common.districts import DistrictCode
from svc_common.errors import IllegalTransition
from svc_common.events.schemas.eia import RegistrationFormRevoked
from svc_common.i18n import msg
from svc_common.outbox import emit
from svc_common.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor, Page
from svc_common.service import get_db
from svc_common.types import ResourceId, utcnow

from eia_svc.registrations.models import RegistrationRow
from eia_svc.registrations.queries import ReceiptKeys, page_of, receipt_keys, to_out
from eia_svc.registrations.rules import CHECK_LABELS_ZH, NOT_SAMPLED, REVOKE_LABELS_ZH
from eia_svc.registrations.schemas import RegistrationOut, RevokeIn

router = APIRouter(prefix="/eia", tags=["post-hoc checks"])


@router.get("/review-queue", response_model=Page[RegistrationOut])
async def review_queue(
    district: DistrictCode | None = None,
    cursor: Cursor = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    principal: Principal = Depends(require("officer", "admin", "auditor")),
    db: Database = Depends(get_db),
    keys: ReceiptKeys = Depends(receipt_keys),
) -> Page[RegistrationOut]:
    """Auto-filings sampled for a post-hoc check (事后抽查) and not yet checked."""
    q = select(RegistrationRow).where(RegistrationRow.review_status == "pending")
    if district:
        principal.require_district(district)
        q = q.where(RegistrationRow.district == district)
    elif (scope := principal.district_scope()) is not None:
        q = q.where(RegistrationRow.district.in_(sorted(scope)))
    return await page_of(db, q, cursor, limit, keys)


async def _for_officer(db: Database, principal: Principal, rid: str) -> RegistrationRow:
    async with db.session() as s:
        r = await s.get(RegistrationRow, rid)
    # Another district's filing is not found, as a read says (a 403 naming
    # its district would tell that it exists).
    return principal.found(r, msg(f"registration {rid} not found", f"未找到登记表备案 {rid}"))


@router.post("/review-queue/{rid}/clear", response_model=RegistrationOut)
async def clear_check(
    rid: ResourceId,
    principal: Principal = Depends(require("officer", "admin")),
    db: Database = Depends(get_db),
    keys: ReceiptKeys = Depends(receipt_keys),
) -> RegistrationOut:
    """The post-hoc check found the filing true: it leaves the queue."""
    await _for_officer(db, principal, rid)
    async with db.transaction() as s:
        r = await s.get(RegistrationRow, rid, with_for_update=True)
        assert r is not None
        if r.review_status != "pending":
            raise IllegalTransition(
                msg("registration check", "备案抽查"),
                str(r.review_status or NOT_SAMPLED),
                "clear",
                ["revoke"] if r.status == "filed" else [],
                CHECK_LABELS_ZH,
            )
        r.review_status, r.reviewed_by = "cleared", principal.sub
        record_audit(s, principal, "registration.check_clear", "registration", rid, None)
    return to_out(r, keys)


@router.post("/registrations/{rid}/revoke", response_model=RegistrationOut)
async def revoke_registration(
    rid: ResourceId,
    body: RevokeIn,
    principal: Principal = Depends(require("officer", "admin")),
    db: Database = Depends(get_db),
    keys: ReceiptKeys = Depends(receipt_keys),
) -> RegistrationOut:
    """Revoke a false filing (备案不实): status revoked, RegistrationFormRevoked."""
    await _for_officer(db, principal, rid)
    async with db.transaction() as s:
        r = await s.get(RegistrationRow, rid, with_for_update=True)
        assert r is not None
        if r.status != "filed":
            raise IllegalTransition(
                msg("registration", "登记表备案"), r.status, "revoke", [], REVOKE_LABELS_ZH
            )
        r.status, r.revoked_at, r.revoked_by, r.revoke_reason = (
            "revoked",
            utcnow(),
            principal.sub,
            body.reason,
        )
        if r.review_status == "pending":
            # The check under way found it false (抽查不实). A check already
            # passed stays as it ended: the filing is revoked for another
            # reason, which the revocation's own reason says.
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
    return to_out(r, keys)
