"""Filing execution reports (corrections supersede, every version kept),
listing a permit's reports and the missed-report list."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common import outbox
from svc_common.audit import record_audit
from svc_common.auth import Principal
from svc_common.db import Database
from svc_common.errors import Conflict, FieldError, Unprocessable
from svc_common.events.schemas.common import PollutantAmount
from svc_common.events.schemas.permit import ExecutionReportFiled, ReportFinding
from svc_common.i18n import msg
from svc_common.pagination import Page, decode_cursor, keyset_after, keyset_page
from svc_common.types import kg_to_tonnes, tonnes_to_kg

from permit_svc.calendar import local_today
from permit_svc.execution_reports import rules
from permit_svc.execution_reports.models import ExecutionReport
from permit_svc.execution_reports.schemas import (
    ExecutionReportIn,
    ExecutionReportOut,
    FindingOut,
    MissedReportOut,
)
from permit_svc.missing import no_permit
from permit_svc.permits.models import Permit
from permit_svc.permits.schemas import kg_to_limits

#: Permits read at a time while the missed-report list is gathered.
MISSED_SCAN = 500


def _finding(f: dict[str, Any]) -> rules.Finding:
    return rules.Finding(f["code"], f["pollutant"], f["reported_kg"], f["permitted_kg"])


def filed_by_shown(filed_by: str, reader: Principal) -> str | None:
    """Who filed a report, as `reader` is shown it: a filer (an
    enterprise's own system) sees its own `sub` only, null for a report
    filed by anyone else, an officer's login above all, which is the
    bureau's business, not the enterprise's; the exact `sub`, as every
    right of whoever made a record is granted. Every other reader sees it."""
    if reader.role != "filer" or filed_by == reader.sub:
        return filed_by
    return None


def to_out(r: ExecutionReport, reader: Principal) -> ExecutionReportOut:
    found = [_finding(f) for f in r.findings]
    return ExecutionReportOut(
        id=r.id,
        permit_id=r.permit_id,
        uscc=r.uscc,
        district=r.district,
        period=r.period,
        frequency=r.frequency,
        period_start=r.period_start,
        period_end=r.period_end,
        due_date=r.due_date,
        version=r.version,
        current=r.is_current,
        supersedes=r.supersedes,
        emissions=kg_to_limits(r.emissions),
        findings=[
            FindingOut(
                code=f.code,
                pollutant=f.pollutant,
                reported_t=kg_to_tonnes(f.reported_kg),
                permitted_t=kg_to_tonnes(f.permitted_kg),
                message=f.message(),
            )
            for f in found
        ],
        late=r.late,
        note=r.note,
        filed_by=filed_by_shown(r.filed_by, reader),
        filed_at=r.filed_at,
    )


def validity(p: Permit) -> tuple[dt.date, dt.date | None] | None:
    """The first day of a permit's unbroken validity and its last, or None
    for a permit never issued."""
    start = p.in_force_from or p.valid_from
    return None if start is None else (start, p.valid_to)


async def file(
    db: Database,
    principal: Principal,
    permit_id: str,
    body: ExecutionReportIn,
    now: dt.datetime,
) -> ExecutionReportOut:
    """File a report for a period; a second one for the period supersedes it."""
    today = local_today(now)
    period = rules.parse_period(body.period)
    assert period is not None  # the body's pattern is the rule's
    principal.enterprise_scope()  # a filer's token naming no enterprise: 403, nothing locked
    async with db.transaction() as s:
        # The permit's row serialises its filings: versions are numbered
        # in turn and a quarter's sum sees the quarters filed before it.
        p = (
            await s.scalars(select(Permit).where(Permit.id == permit_id).with_for_update())
        ).one_or_none()
        p = principal.found_of_enterprise(p, no_permit(permit_id))
        valid = validity(p)
        if p.status not in rules.MAY_FILE or valid is None:
            raise Conflict(
                msg(
                    f"a permit that is {p.status} was never issued and owes no execution reports",
                    f"状态为 {p.status} 的许可证尚未核发，无需提交执行报告",
                ),
                state=p.status,
            )
        refusal = rules.period_refusal(period, p.category, *valid, today)
        if refusal:
            raise Unprocessable(refusal, errors=[FieldError(field="period", message=refusal)])
        unlimited = rules.unlimited_pollutants([e.pollutant for e in body.emissions], p.pollutants)
        if unlimited:
            errors = [
                FieldError(
                    field=f"emissions.{i}.pollutant",
                    message=msg(
                        f"the permit sets no permitted amount for {body.emissions[i].pollutant}"
                        f" (it limits {', '.join(sorted(p.pollutants))})",
                        f"许可证未许可 {body.emissions[i].pollutant} 的排放量"
                        f"（许可的污染物：{'、'.join(sorted(p.pollutants))}）",
                    ),
                )
                for i in unlimited
            ]
            raise Unprocessable(
                msg(
                    "a pollutant reported is not limited by the permit",
                    "报告的污染物不在许可证许可范围内",
                ),
                errors=errors,
            )
        emissions: dict[str, int] = {e.pollutant: tonnes_to_kg(e.amount_t) for e in body.emissions}
        previous = (
            await s.scalars(
                select(ExecutionReport).where(
                    ExecutionReport.permit_id == p.id,
                    ExecutionReport.period == period.code,
                    ExecutionReport.is_current.is_(True),
                )
            )
        ).one_or_none()
        rest_of_year: dict[str, int] = defaultdict(int)
        if period.frequency != "annual":
            siblings = [
                q.code for q in rules.periods_of(period.frequency, period.year) if q != period
            ]
            others = await s.scalars(
                select(ExecutionReport).where(
                    ExecutionReport.permit_id == p.id,
                    ExecutionReport.period.in_(siblings),
                    ExecutionReport.is_current.is_(True),
                )
            )
            for other in others:
                for pollutant, kg in other.emissions.items():
                    rest_of_year[pollutant] += kg
        found = rules.findings(period, emissions, p.pollutants, rest_of_year)
        if previous is not None:
            previous.is_current = False
            await s.flush()  # the one current version per period: the old one first
        row = ExecutionReport(
            id=str(uuid.uuid4()),
            permit_id=p.id,
            uscc=p.uscc,
            district=p.district,
            period=period.code,
            frequency=period.frequency,
            period_start=period.first_day,
            period_end=period.last_day,
            due_date=period.due_date,
            version=1 if previous is None else previous.version + 1,
            is_current=True,
            supersedes=None if previous is None else previous.id,
            emissions=emissions,
            findings=[
                {
                    "code": f.code,
                    "pollutant": f.pollutant,
                    "reported_kg": f.reported_kg,
                    "permitted_kg": f.permitted_kg,
                }
                for f in found
            ],
            late=rules.is_late(period, today),
            note=body.note,
            filed_by=principal.sub,
            filed_at=now,
        )
        s.add(row)
        record_audit(
            s,
            principal,
            "execution_report.file",
            "permit",
            p.id,
            {
                "report_id": row.id,
                "period": row.period,
                "version": row.version,
                "findings": [f.code for f in found],
            },
        )
        outbox.emit(
            s,
            ExecutionReportFiled(
                report_id=row.id,
                permit_id=p.id,
                permit_no=p.permit_no,
                uscc=p.uscc,
                district=p.district,
                period=row.period,
                frequency=period.frequency,
                version=row.version,
                supersedes=row.supersedes,
                emissions=[
                    PollutantAmount(pollutant=k, amount_t=kg_to_tonnes(v))
                    for k, v in emissions.items()
                ],
                findings=[
                    ReportFinding(
                        code=f.code,
                        pollutant=f.pollutant,
                        reported_t=kg_to_tonnes(f.reported_kg),
                        permitted_t=kg_to_tonnes(f.permitted_kg),
                    )
                    for f in found
                ],
                late=row.late,
            ),
        )
        return to_out(row, principal)


async def list_reports(
    db: Database,
    principal: Principal,
    permit_id: str,
    superseded: bool,
    cursor: str | None,
    limit: int,
) -> Page[ExecutionReportOut]:
    """A permit's reports by period, then version; the current versions
    only unless `superseded`."""
    after = decode_cursor(cursor, "str", "int")
    q = (
        select(ExecutionReport)
        .where(ExecutionReport.permit_id == permit_id)
        .order_by(ExecutionReport.period, ExecutionReport.version)
        .limit(limit + 1)
    )
    if not superseded:
        q = q.where(ExecutionReport.is_current.is_(True))
    if after is not None:
        q = q.where(keyset_after(after, ExecutionReport.period, ExecutionReport.version))
    async with db.session() as s:
        principal.found_of_enterprise(await s.get(Permit, permit_id), no_permit(permit_id))
        rows = list((await s.scalars(q)).all())
    return keyset_page(rows, limit, lambda r: [r.period, r.version], lambda r: to_out(r, principal))


async def list_missed(
    db: Database,
    districts: list[str] | None,
    today: dt.date,
    cursor: str | None,
    limit: int,
    owed_from: dt.date | None = None,
) -> Page[MissedReportOut]:
    """Periods of permits in force whose report is overdue on `today`
    (逾期未报), by permit id, then period. Periods are not stored: each
    permit's owed periods are computed and those filed taken away, a
    batch of permits at a time, from the cursor's permit on."""
    after = decode_cursor(cursor, "str", "str")
    found: list[MissedReportOut] = []
    last_permit: str | None = None
    async with db.session() as s:
        while len(found) <= limit:
            q = (
                select(Permit)
                .where(Permit.status.in_(rules.OWING), Permit.valid_from.is_not(None))
                .order_by(Permit.id)
                .limit(MISSED_SCAN)
            )
            if districts is not None:
                q = q.where(Permit.district.in_(districts))
            if last_permit is not None:
                q = q.where(Permit.id > last_permit)
            elif after is not None:
                q = q.where(Permit.id >= after[0])
            permits = list((await s.scalars(q)).all())
            if not permits:
                break
            last_permit = permits[-1].id
            for p, period in await overdue_periods(s, permits, today, owed_from):
                if after is not None and (p.id, period.code) <= after:
                    continue
                found.append(_missed(p, period, today))
            if len(permits) < MISSED_SCAN:
                break
    return keyset_page(found, limit, lambda m: [m.permit_id, m.period], lambda m: m)


async def overdue_periods(
    s: AsyncSession, permits: list[Permit], today: dt.date, owed_from: dt.date | None
) -> list[tuple[Permit, rules.Period]]:
    """Each period of `permits` whose report is overdue on `today`
    (逾期未报), permit by permit in the order given, then by period: of the
    permits owing reports, the periods owed less those filed."""
    owing = [p for p in permits if p.status in rules.OWING and p.valid_from is not None]
    if not owing:
        return []
    filed: dict[str, set[str]] = defaultdict(set)
    rows = await s.execute(
        select(ExecutionReport.permit_id, ExecutionReport.period).where(
            ExecutionReport.permit_id.in_([p.id for p in owing]),
            ExecutionReport.is_current.is_(True),
        )
    )
    for permit_id, code in rows:
        filed[permit_id].add(code)
    overdue: list[tuple[Permit, rules.Period]] = []
    for p in owing:
        valid = validity(p)
        if valid is not None:
            periods = rules.missed_periods(p.category, *valid, today, filed[p.id], owed_from)
            overdue += [(p, period) for period in periods]
    return overdue


def _missed(p: Permit, period: rules.Period, today: dt.date) -> MissedReportOut:
    return MissedReportOut(
        permit_id=p.id,
        permit_no=p.permit_no,
        uscc=p.uscc,
        district=p.district,
        category=p.category,
        period=period.code,
        frequency=period.frequency,
        period_start=period.first_day,
        period_end=period.last_day,
        due_date=period.due_date,
        days_overdue=(today - period.due_date).days,
    )
