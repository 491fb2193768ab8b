"""Recording audits, rectifying findings and listing overdue ones."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict

from sqlalchemy import exists, select
from svc_common.audit import record_audit
from svc_common.auth import Principal
from svc_common.db import Database
from svc_common.errors import Conflict, FieldError, NotFound, Unprocessable
from svc_common.i18n import msg
from svc_common.pagination import Page, decode_cursor, keyset_after, keyset_page

from permit_svc.audits import rules
from permit_svc.audits.models import AuditFinding, PermitAudit
from permit_svc.audits.schemas import AuditIn, AuditOut, FindingOut, Rectification
from permit_svc.calendar import local_today
from permit_svc.missing import no_audit, no_permit
from permit_svc.permits.models import Permit


def _finding_out(f: AuditFinding, today: dt.date) -> FindingOut:
    return FindingOut(
        id=f.id,
        description=f.description,
        rectification_deadline=f.rectification_deadline,
        status=f.status,
        overdue=rules.is_overdue(f.status, f.rectification_deadline, today),
        rectified_at=f.rectified_at,
        rectified_by=f.rectified_by,
        rectification_note=f.rectification_note,
    )


def _out(a: PermitAudit, findings: list[AuditFinding], today: dt.date) -> AuditOut:
    return AuditOut(
        id=a.id,
        permit_id=a.permit_id,
        uscc=a.uscc,
        district=a.district,
        result=a.result,
        note=a.note,
        audited_by=a.audited_by,
        audited_at=a.audited_at,
        findings=[_finding_out(f, today) for f in findings],
    )


async def record(
    db: Database, principal: Principal, permit_id: str, body: AuditIn, now: dt.datetime
) -> AuditOut:
    today = local_today(now)
    problem = rules.check_result(body.result, len(body.findings))
    if problem:
        raise Unprocessable(problem, errors=[FieldError(field="findings", message=problem)])
    late = [
        FieldError(
            field=f"findings.{i}.rectification_deadline",
            message=msg("must not be before today", "不得早于今天"),
        )
        for i, f in enumerate(body.findings)
        if f.rectification_deadline < today
    ]
    if late:
        raise Unprocessable(
            msg("a rectification deadline is in the past", "整改期限早于今天"), errors=late
        )
    async with db.transaction() as s:
        p = await s.get(Permit, permit_id)
        p = principal.found(p, no_permit(permit_id))
        if p.status not in rules.AUDITABLE:
            raise Conflict(
                msg(
                    f"a permit that is {p.status} cannot be audited; only one in force "
                    f"({', '.join(rules.AUDITABLE)})",
                    f"状态为 {p.status} 的许可证不能审核；只能审核有效的许可证"
                    f"（{'、'.join(rules.AUDITABLE)}）",
                ),
                state=p.status,
            )
        a = PermitAudit(
            id=str(uuid.uuid4()),
            permit_id=p.id,
            uscc=p.uscc,
            district=p.district,
            result=body.result,
            note=body.note,
            audited_by=principal.sub,
            audited_at=now,
        )
        s.add(a)
        await s.flush()  # the audit row first: its findings refer to it
        findings = [
            AuditFinding(
                id=str(uuid.uuid4()),
                audit_id=a.id,
                description=f.description,
                rectification_deadline=f.rectification_deadline,
                status="open",
            )
            for f in body.findings
        ]
        s.add_all(findings)
        record_audit(
            s,
            principal,
            "permit.audit",
            "permit",
            p.id,
            {"audit_id": a.id, "result": body.result, "findings": len(findings)},
        )
    return _out(a, findings, today)


async def rectify(
    db: Database,
    principal: Principal,
    audit_id: str,
    finding_id: str,
    body: Rectification,
    now: dt.datetime,
) -> AuditOut:
    async with db.transaction() as s:
        a = await s.get(PermitAudit, audit_id)
        a = principal.found(a, no_audit(audit_id))
        f = (
            await s.scalars(
                select(AuditFinding)
                .where(AuditFinding.id == finding_id, AuditFinding.audit_id == audit_id)
                .with_for_update()
            )
        ).one_or_none()
        if f is None:
            raise NotFound(
                msg(
                    f"audit {audit_id} has no finding {finding_id}",
                    f"审核 {audit_id} 中没有问题 {finding_id}",
                )
            )
        f.status = rules.next_finding_status(f.status, "rectify")
        f.rectified_at, f.rectified_by, f.rectification_note = now, principal.sub, body.note
        record_audit(s, principal, "finding.rectify", "audit_finding", f.id, {"audit_id": audit_id})
        findings = list(
            (
                await s.scalars(
                    select(AuditFinding)
                    .where(AuditFinding.audit_id == a.id)
                    .order_by(AuditFinding.rectification_deadline, AuditFinding.id)
                )
            ).all()
        )
    return _out(a, findings, local_today(now))


async def list_audits(
    db: Database,
    districts: list[str] | None,
    overdue: bool,
    today: dt.date,
    cursor: str | None,
    limit: int,
    uscc: str | None = None,
) -> Page[AuditOut]:
    """Audits, newest id order; `overdue` keeps those with a finding open past its deadline."""
    after = decode_cursor(cursor, "str")
    q = select(PermitAudit).order_by(PermitAudit.id).limit(limit + 1)
    if districts is not None:
        q = q.where(PermitAudit.district.in_(districts))
    if uscc is not None:
        q = q.where(PermitAudit.uscc == uscc.upper())
    if overdue:
        q = q.where(
            exists().where(
                AuditFinding.audit_id == PermitAudit.id,
                AuditFinding.status == "open",
                AuditFinding.rectification_deadline < today,
            )
        )
    if after is not None:
        q = q.where(keyset_after(after, PermitAudit.id))
    async with db.session() as s:
        audits = list((await s.scalars(q)).all())
        # The findings of the audits on the page only, not of the one more.
        shown = [a.id for a in audits[:limit]]
        by_audit: dict[str, list[AuditFinding]] = defaultdict(list)
        if shown:
            found = await s.scalars(
                select(AuditFinding)
                .where(AuditFinding.audit_id.in_(shown))
                .order_by(AuditFinding.rectification_deadline, AuditFinding.id)
            )
            for f in found:
                by_audit[f.audit_id].append(f)
    return keyset_page(audits, limit, lambda a: a.id, lambda a: _out(a, by_audit[a.id], today))
