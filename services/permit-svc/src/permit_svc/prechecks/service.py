"""Reading the facts the pre-acceptance checks judge an application by, and
the checks: kept on an application when it is accepted (`stamp`) and
judged again when quota is learned for it (`judge_again_for_allocation`),
judged again for one on request (`live`), and judged for a body not
submitted (`dry_run`)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.auth import Principal
from svc_common.db import Database
from svc_common.errors import Conflict
from svc_common.guard import fold_width
from svc_common.i18n import msg

from permit_svc.audits.models import AuditFinding, PermitAudit
from permit_svc.calendar import local_today
from permit_svc.enterprises.models import Enterprise
from permit_svc.enterprises.rules import needs_permit
from permit_svc.execution_reports.service import overdue_periods
from permit_svc.missing import no_permit
from permit_svc.permits.models import Permit
from permit_svc.permits.rules import IN_FORCE, in_order
from permit_svc.permits.schemas import PermitApplication, limits_to_kg
from permit_svc.prechecks import rules
from permit_svc.prechecks.schemas import PrecheckReport, report
from permit_svc.quota_backing.service import backing_preview
from permit_svc.registrations.service import active_numbers


async def facts(
    s: AsyncSession,
    e: Enterprise,
    pollutants: list[tuple[str, int]],
    project_ref: str | None,
    today: dt.date,
    owed_from: dt.date | None,
    application_id: str | None = None,
    changes_permit_id: str | None = None,
    drafted: bool = False,
) -> rules.Facts:
    """The facts of an application of enterprise `e` (`application_id`: the
    application itself, left out of the enterprise's pending ones). It is a
    change application of the permit `changes_permit_id` while that is in
    force, or, `drafted` from an approved filing, of the permit in force the
    enterprise holds (as `permits.service.issue` takes it)."""
    permits = list(
        (
            await s.scalars(
                select(Permit).where(Permit.uscc == e.uscc).order_by(Permit.created_at, Permit.id)
            )
        ).all()
    )
    in_force = [p for p in permits if p.status in IN_FORCE]
    changes = next(
        (
            p
            for p in in_force
            if p.id == changes_permit_id or (changes_permit_id is None and drafted)
        ),
        None,
    )
    pending = [p.id for p in permits if p.status == "applied" and p.id != application_id]
    allocated, drawn, known = await backing_preview(s, e.uscc, e.district, project_ref)
    open_findings, earliest = (
        await s.execute(
            select(func.count(), func.min(AuditFinding.rectification_deadline))
            .select_from(AuditFinding)
            .join(PermitAudit, PermitAudit.id == AuditFinding.audit_id)
            .where(PermitAudit.uscc == e.uscc, AuditFinding.status == "open")
        )
    ).one()
    return rules.Facts(
        pollutants=pollutants,
        project_ref=project_ref,
        in_force_permit_no=next((p.permit_no for p in in_force if p.permit_no), None),
        in_force_vocs_kg=sum(p.vocs_kg for p in in_force),
        allocated_kg=allocated,
        drawn_kg=drawn,
        project_known=known,
        pending_ids=pending,
        open_findings=int(open_findings or 0),
        earliest_deadline=earliest,
        missed_reports=len(await overdue_periods(s, permits, today, owed_from)),
        changes_permit_no=changes.permit_no if changes else None,
    )


async def judge(
    s: AsyncSession, p: Permit, e: Enterprise, today: dt.date, owed_from: dt.date | None
) -> list[rules.Check]:
    """The advisory checks of application `p` of enterprise `e` judged as of
    `today`. Its `pollutants.N` fields index the permit's pollutants as
    `PermitOut` lists them (`in_order`), whatever order it was applied for
    in: the checks kept on it and those judged again name the same field."""
    found = await facts(
        s,
        e,
        in_order(p.pollutants),
        p.project_ref,
        today,
        owed_from,
        p.id,
        p.changes_permit_id,
        drafted=p.source_filing_id is not None,
    )
    return rules.advisory(found)


def keep(p: Permit, checks: list[rules.Check]) -> None:
    """Keep `checks` on application `p`, and how many did not pass."""
    p.prechecks = [c.stored() for c in checks]
    p.attention = rules.attention(checks)


async def stamp(
    s: AsyncSession,
    p: Permit,
    e: Enterprise,
    now: dt.datetime,
    owed_from: dt.date | None,
) -> None:
    """Keep on application `p` (not yet added to the session) its advisory
    checks as of its acceptance."""
    keep(p, await judge(s, p, e, local_today(now), owed_from))


async def judge_again_for_allocation(
    s: AsyncSession, uscc: str | None, project_ref: str, now: dt.datetime, owed_from: dt.date | None
) -> None:
    """Quota allocated (`quota.allocated`, learned in this transaction) to
    enterprise `uscc`, or, naming none, to the project `project_ref`: the
    applications it may back, still `applied`, keep their checks judged
    again now (`judge`, as on request), so that one accepted or drafted
    before its quota was allocated no longer says it is not backed. Those
    of the enterprise it names; naming none, those citing the project (an
    allocation counts for them so, `quota_backing.service.backing_preview`).
    An application that kept no checks (applied for before checks were
    kept) keeps none."""
    which = (
        Permit.uscc == uscc if uscc is not None else Permit.project_ref == fold_width(project_ref)
    )
    # Locks: the applications' rows, in id order, and nothing after them (not
    # their enterprise): the order issuing and drafting take (permit rows
    # before the enterprise). Held, an application issued, refused or
    # withdrawn meanwhile drops out (its row read again once free, no longer
    # `applied`: it keeps the checks of its acceptance), and two allocations
    # learned at once for one enterprise judge one after the other, the
    # second reading the first's (each statement reads what was committed
    # before it). On SQLite the writer lock serialises already.
    applications = (
        await s.scalars(
            select(Permit)
            .where(which, Permit.status == "applied")
            .order_by(Permit.id)
            .with_for_update()
        )
    ).all()
    today = local_today(now)
    for p in applications:
        if p.prechecks is None:
            continue
        e = (await s.scalars(select(Enterprise).where(Enterprise.uscc == p.uscc))).one()
        keep(p, await judge(s, p, e, today, owed_from))


async def live(
    db: Database,
    principal: Principal,
    permit_id: str,
    now: dt.datetime,
    owed_from: dt.date | None,
) -> PrecheckReport:
    """The advisory checks of application `permit_id` judged now."""
    async with db.session() as s:
        p = principal.found(await s.get(Permit, permit_id), no_permit(permit_id))
        if p.status != "applied":
            raise Conflict(
                msg(
                    f"a permit that is {p.status} is no application: its checks are those "
                    "kept when it was applied for (prechecks)",
                    f"状态为 {p.status} 的许可证已不是待受理的申请：其校验结果见受理时的 prechecks",
                ),
                state=p.status,
            )
        e = (await s.scalars(select(Enterprise).where(Enterprise.uscc == p.uscc))).one()
        checks = await judge(s, p, e, local_today(now), owed_from)
    return report(checks, refused=False)


async def dry_run(
    db: Database,
    principal: Principal,
    body: PermitApplication,
    now: dt.datetime,
    owed_from: dt.date | None,
) -> PrecheckReport:
    """What `POST /permit/permits` would make of `body`, writing nothing: its
    refusals as failed checks, then (an enterprise known here) the advisory ones."""
    pollutants = list(limits_to_kg(body.pollutants).items())
    async with db.session() as s:
        e = await s.get(Enterprise, body.uscc)
        # As `apply`: another district's enterprise is one not here.
        if e is None or not principal.may_act_in(e.district):
            checks = rules.refusals(
                known=False, closed=False, needs_permit=True, registration_no=None
            )
            checks.append(rules.zero_amount(rules.Facts(pollutants, body.project_ref)))
            return report(checks, refused=True)
        registration_no = (await active_numbers(s, [e.uscc])).get(e.uscc)
        checks = rules.refusals(
            known=True,
            closed=e.operating_status == "closed",
            needs_permit=needs_permit(e.category),
            registration_no=registration_no,
        )
        refused = rules.attention(checks) > 0
        found = await facts(s, e, pollutants, body.project_ref, local_today(now), owed_from)
    return report(checks + rules.advisory(found), refused=refused)
