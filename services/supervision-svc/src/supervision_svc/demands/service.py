"""Demands list: creation (single and bulk), progress, completion, the sweep
marking items past their deadline, the report."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import ValidationError
from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.audit import SYSTEM, record_audit
from svc_common.auth import Principal
from svc_common.bulk import BulkReportBuilder
from svc_common.calendar import end_of_day, local_date
from svc_common.db import Database
from svc_common.districts import other_district_problem
from svc_common.errors import (
    FieldError,
    IllegalTransition,
    NotFound,
    field_error,
    validation_errors,
)
from svc_common.i18n import msg
from svc_common.uploads import RawRow

from supervision_svc.complaints.models import Complaint
from supervision_svc.demands.models import Demand
from supervision_svc.demands.schemas import (
    DemandIn,
    DemandOut,
    DemandReport,
    DemandRow,
    ProgressIn,
)
from supervision_svc.validation import not_before_today


def is_overdue(d: Demand, now: dt.datetime) -> bool:
    return d.status == "open" and now >= end_of_day(d.deadline)


def to_out(d: Demand, now: dt.datetime) -> DemandOut:
    return DemandOut(
        id=d.id,
        district=d.district,
        title=d.title,
        detail=d.detail,
        source=d.source,
        source_ref=d.source_ref,
        owner=d.owner,
        deadline=d.deadline,
        progress_percent=d.progress_percent,
        progress_note=d.progress_note,
        status=d.status,
        overdue=is_overdue(d, now),
        done_at=d.done_at,
        created_at=d.created_at,
        updated_at=d.updated_at,
    )


def new_demand(
    principal: Principal, body: DemandIn, now: dt.datetime, status: str = "open"
) -> Demand:
    """A new item; `status` done only for an imported row (DemandRow)."""
    done = status == "done"
    return Demand(
        id=str(uuid.uuid4()),
        **body.model_dump(exclude={"progress_percent", "status"}),
        progress_percent=100 if done else body.progress_percent,
        status=status,
        done_at=now if done else None,
        created_by=principal.sub,
        created_at=now,
        updated_at=now,
    )


#: Case numbers looked up per statement (well under SQLite's 32,766 variables).
_REFS_PER_QUERY = 1000


def _complaint_ref(body: DemandIn) -> str | None:
    """The complaint an item names: the only source_ref kept here. An
    inspection's may be another authority's (a 督察 referral), a visit's
    or other's is free text, so those are not looked up."""
    return body.source_ref if body.source == "complaint" else None


async def complaint_districts(
    s: AsyncSession, principal: Principal, refs: set[str]
) -> dict[str, str]:
    """The district of each complaint among `refs` (case numbers) the caller
    may see; one of another district the caller may not act in is left out,
    as one that does not exist (a refusal that differed would tell that the
    case exists, and where)."""
    seen: dict[str, str] = {}
    ordered = sorted(refs)
    for i in range(0, len(ordered), _REFS_PER_QUERY):
        part = ordered[i : i + _REFS_PER_QUERY]
        found = await s.execute(
            select(Complaint.case_no, Complaint.district).where(Complaint.case_no.in_(part))
        )
        seen.update((c, d) for c, d in found if principal.may_act_in(d))
    return seen


def _reference_problem(body: DemandIn, districts: dict[str, str]) -> FieldError | None:
    """Why the complaint `body` names will not do (`districts`: those of the
    complaints the caller may see), or None: the item is of the complaint's
    district, whoever creates it (an administrator sees every district)."""
    ref = _complaint_ref(body)
    if ref is None:
        return None
    if ref not in districts:
        return FieldError(
            field="source_ref",
            message=msg(
                f"no complaint {ref} in your districts: an item from a complaint names"
                " one received or imported here",
                f"您所辖的区没有编号为 {ref} 的投诉："
                "来源为投诉的事项须引用本系统已受理或导入的投诉",
            ),
        )
    problem = other_district_problem(("complaint", "投诉"), ref, districts[ref], body.district)
    return None if problem is None else FieldError(field="source_ref", message=problem)


async def create(s: AsyncSession, principal: Principal, body: DemandIn, now: dt.datetime) -> Demand:
    """One new item, open; its deadline is not before today (the import,
    which takes the list as it stands, keeps past deadlines and done items).
    An item from a complaint names one the caller may see, of its district."""
    principal.require_district(body.district)
    not_before_today(body.deadline, local_date(now), "deadline")
    ref = _complaint_ref(body)
    districts = await complaint_districts(s, principal, {ref}) if ref is not None else {}
    if problem := _reference_problem(body, districts):
        raise field_error(problem.field, problem.message)
    d = new_demand(principal, body, now)
    s.add(d)
    record_audit(s, principal, "demand.create", "demand", d.id, body.model_dump(mode="json"))
    return d


async def import_demands(
    s: AsyncSession, principal: Principal, rows: list[RawRow], now: dt.datetime
) -> BulkReportBuilder:
    """Each row `created` (the item's id) or `error`. The complaints the
    rows name are looked up together, after every row is read."""
    report = BulkReportBuilder()
    created = 0
    read: list[tuple[RawRow, DemandRow | list[FieldError]]] = []
    for raw in rows:
        read.append((raw, _read_row(principal, raw)))
    refs = {r for _, b in read if isinstance(b, DemandRow) and (r := _complaint_ref(b))}
    districts = await complaint_districts(s, principal, refs) if refs else {}
    for raw, body in read:
        if isinstance(body, DemandRow) and (problem := _reference_problem(body, districts)):
            body = [problem]
        if isinstance(body, list):
            report.error(raw.row, body)
            continue
        d = new_demand(principal, body, now, body.status)
        s.add(d)
        created += 1
        report.add(raw.row, "created", id=d.id)
    record_audit(
        s,
        principal,
        "demand.import",
        "demand_import",
        str(uuid.uuid4()),
        {"received": len(rows), "created": created},
    )
    return report


def _read_row(principal: Principal, raw: RawRow) -> DemandRow | list[FieldError]:
    """A row as an item, or why it is none (all but the complaint it names)."""
    if raw.data is None:
        return [FieldError(field=raw.field, message=raw.error or "unreadable")]
    try:
        body = DemandRow.model_validate(raw.data)
    except ValidationError as exc:
        return validation_errors(exc.errors())
    if not principal.may_act_in(body.district):
        return [
            FieldError(
                field="district",
                message=msg("is not one of your districts", "不是您所辖的区"),
            )
        ]
    return body


async def load_for_update(s: AsyncSession, principal: Principal, demand_id: str) -> Demand:
    d = (
        await s.scalars(select(Demand).where(Demand.id == demand_id[:64]).with_for_update())
    ).one_or_none()
    if d is None or not principal.may_act_in(d.district):
        raise NotFound(msg(f"no demand {demand_id[:64]}", f"没有诉求事项 {demand_id[:64]}"))
    return d


#: States in Chinese, for a refused step's message.
DEMAND_LABELS_ZH = {"open": "办理中", "done": "已办结"}
#: Steps in Chinese: `done` is the step (办结) as well as the state (已办结).
DEMAND_ACTIONS_ZH = {"progress": "更新进展", "done": "办结"}


def progress(
    s: AsyncSession, principal: Principal, d: Demand, body: ProgressIn, now: dt.datetime
) -> None:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if not changes:
        raise field_error("body", msg("names nothing to change", "没有要修改的内容"))
    if d.status != "open":
        raise IllegalTransition(
            msg("demand", "诉求"),
            d.status,
            "progress",
            [],
            DEMAND_LABELS_ZH,
            actions_zh=DEMAND_ACTIONS_ZH,
        )
    if body.deadline is not None:
        not_before_today(body.deadline, local_date(now), "deadline")
    for k, v in changes.items():
        setattr(d, k, v)
    d.updated_at = now
    record_audit(
        s, principal, "demand.progress", "demand", d.id, {k: str(v) for k, v in changes.items()}
    )


def complete(
    s: AsyncSession, principal: Principal, d: Demand, note: str | None, now: dt.datetime
) -> None:
    if d.status != "open":
        raise IllegalTransition(
            msg("demand", "诉求"),
            d.status,
            "done",
            [],
            DEMAND_LABELS_ZH,
            actions_zh=DEMAND_ACTIONS_ZH,
        )
    d.status, d.done_at, d.progress_percent, d.updated_at = "done", now, 100, now
    if note:
        d.progress_note = note
    if now >= end_of_day(d.deadline) and d.overdue_at is None:
        d.overdue_at = end_of_day(d.deadline)
    record_audit(s, principal, "demand.done", "demand", d.id, {"note": note})


async def mark_overdue(db: Database, now: dt.datetime) -> int:
    """The sweeper: record when an open item passed its deadline."""
    # The deadline is a Beijing date: past it once that day has ended there.
    last_past_day = local_date(now) - dt.timedelta(days=1)
    async with db.transaction() as s:
        result = await s.execute(
            update(Demand)
            .where(
                Demand.status == "open",
                Demand.overdue_at.is_(None),
                Demand.deadline <= last_past_day,
            )
            .values(overdue_at=now)
        )
        n = int(result.rowcount or 0)  # type: ignore[attr-defined]
        if n:
            record_audit(s, SYSTEM, "demand.mark_overdue", "demand", "*", {"marked": n})
    return n


async def report(
    s: AsyncSession, districts: list[str] | None, district: str | None, now: dt.datetime
) -> DemandReport:
    today = local_date(now)
    q = select(
        func.count(),
        func.coalesce(func.sum(case((Demand.status == "done", 1), else_=0)), 0),
        func.coalesce(
            func.sum(case(((Demand.status == "open") & (Demand.deadline < today), 1), else_=0)), 0
        ),
    )
    if districts is not None:
        q = q.where(Demand.district.in_(districts))
    total, done, overdue = (int(x) for x in (await s.execute(q)).one())
    return DemandReport(
        district=district, total=total, done=done, in_progress=total - done, overdue=overdue
    )
