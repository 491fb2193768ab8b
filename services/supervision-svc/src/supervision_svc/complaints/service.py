"""Complaint intake (single and bulk) with duplicate detection and clusters,
the lifecycle with its statutory clocks, the overdue sweep."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from pydantic import ValidationError
from sqlalchemy import Table, bindparam, case, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common import outbox
from svc_common.audit import SYSTEM, record_audit
from svc_common.auth import Principal
from svc_common.bulk import BulkReportBuilder
from svc_common.calendar import local_date, working_deadline
from svc_common.db import Database, in_chunks
from svc_common.errors import NotFound, field_error, validation_errors
from svc_common.events.schemas import supervision as ev
from svc_common.i18n import msg

from supervision_svc.complaints import rules
from supervision_svc.complaints.models import ComplainantContact, Complaint, ComplaintCluster
from supervision_svc.complaints.schemas import (
    ActionIn,
    ComplaintAcceptIn,
    ComplaintAssignIn,
    ComplaintCloseIn,
    ComplaintIn,
    ComplaintRejectIn,
    ComplaintReplyIn,
    ImportedComplaint,
)
from supervision_svc.numbering import next_numbers
from supervision_svc.settings import Settings

MICRO = Decimal(1_000_000)


def dup_rules(settings: Settings) -> rules.DuplicateRules:
    return rules.DuplicateRules(
        window=dt.timedelta(days=settings.duplicate_window_days),
        radius_m=float(settings.duplicate_radius_m),
        text_min=float(settings.duplicate_text_similarity),
        address_min=float(settings.duplicate_address_similarity),
        text_alone=float(settings.duplicate_text_alone),
    )


def complainant_key(phone: str | None) -> str | None:
    """A one-way key of a phone number (its digits), to count distinct people."""
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    return hashlib.sha256(f"12369:{digits}".encode()).hexdigest() if digits else None


def to_e6(v: Decimal | None) -> int | None:
    return None if v is None else int(v * MICRO)


def from_e6(v: int | None) -> Decimal | None:
    return None if v is None else (Decimal(v) / MICRO).quantize(Decimal("0.000001"))


def facts(c: Complaint) -> rules.ComplaintFacts:
    return rules.ComplaintFacts(
        id=c.id,
        district=c.district,
        category=c.category,
        received_at=c.received_at,
        description=c.description,
        address=c.address,
        uscc=c.uscc,
        lat=None if c.lat_e6 is None else c.lat_e6 / 1e6,
        lng=None if c.lng_e6 is None else c.lng_e6 / 1e6,
        closed_at=c.closed_at,
        rejected=c.status == "rejected",
        cluster_id=c.cluster_id,
        case_no=c.case_no,
    )


@dataclass
class NewComplaint:
    """A complaint to create, from the single form or an import row."""

    channel: str
    received_at: dt.datetime
    district: str
    address: str
    category: str
    description: str
    uscc: str | None = None
    lat: Decimal | None = None
    lng: Decimal | None = None
    status: str = "received"
    accepted_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    outcome: str | None = None
    rejected_reason: str | None = None
    contact: dict[str, Any] = field(default_factory=dict)
    row: int = 1

    @classmethod
    def of(cls, body: ComplaintIn) -> NewComplaint:
        return cls(
            **body.model_dump(exclude={"complainant"}),
            contact=body.complainant.model_dump(),
        )

    @classmethod
    def imported(cls, body: ImportedComplaint, row: int) -> NewComplaint:
        data = body.model_dump(exclude={"complainant_name", "complainant_phone"})
        contact = {"name": body.complainant_name, "phone": body.complainant_phone}
        return cls(**data, contact=contact, row=row)


@dataclass
class Created:
    complaint: Complaint
    matches: list[rules.Match]
    row: int
    cluster_size: int = 0


class Clusters:
    """Cluster assignment over one transaction: candidates are loaded once per
    (district, category); clusters matched together are merged into the oldest."""

    def __init__(self, s: AsyncSession, r: rules.DuplicateRules) -> None:
        self.s, self.r = s, r
        #: Per (district, category), the complaints a new one may repeat,
        #: indexed by what makes two of them duplicates.
        self.index: dict[tuple[str, str], rules.DuplicateIndex] = {}
        self.cluster_of: dict[str, str] = {}
        self.merged: dict[str, str] = {}
        self.first_seen: dict[str, dt.datetime] = {}
        self.touched: set[str] = set()

    def find(self, cluster: str) -> str:
        while cluster in self.merged:
            cluster = self.merged[cluster]
        return cluster

    async def load(self, district: str, category: str, since: dt.datetime) -> None:
        key = (district, category)
        if key in self.index:
            return
        q = (
            select(Complaint, ComplaintCluster.first_received_at)
            .join(ComplaintCluster, ComplaintCluster.id == Complaint.cluster_id)
            .where(
                Complaint.district == district,
                Complaint.category == category,
                Complaint.received_at >= since,
                Complaint.status != "rejected",
                or_(Complaint.closed_at.is_(None), Complaint.closed_at > since),
            )
            .order_by(Complaint.received_at.desc())
            .limit(5000)
        )
        index = self.index[key] = rules.DuplicateIndex(self.r)
        for c, first in (await self.s.execute(q)).all():
            index.add(facts(c))
            self.cluster_of[c.id] = c.cluster_id
            self.first_seen.setdefault(c.cluster_id, first)

    def place(self, c: Complaint) -> tuple[str, list[rules.Match], bool]:
        """The cluster of new complaint `c` (created if needed), its matches,
        and whether the cluster is new."""
        f = facts(c)
        index = self.index[(c.district, c.category)]
        matches = index.duplicates(f)
        clusters = {self.find(self.cluster_of[m.earlier.id]) for m in matches}
        if clusters:
            target = min(clusters, key=lambda k: (self.first_seen[k], k))
            for other in clusters - {target}:
                self.merged[other] = target
            new = False
        else:
            target, new = str(uuid.uuid4()), True
            self.first_seen[target] = c.received_at
        self.cluster_of[c.id] = target
        index.add(f)
        self.touched.add(target)
        return target, matches, new

    async def apply_merges(self) -> None:
        for other in list(self.merged):
            target = self.find(other)
            await self.s.execute(
                update(Complaint)
                .where(Complaint.cluster_id == other)
                .values(cluster_id=target)
                .execution_options(synchronize_session=False)
            )
            await self.s.execute(delete(ComplaintCluster).where(ComplaintCluster.id == other))
            self.touched.discard(other)
            self.touched.add(target)


async def refresh_clusters(s: AsyncSession, ids: set[str]) -> dict[str, int]:
    """Recount the clusters' figures from their complaints (rejected ones do
    not count); returns each cluster's number of reports."""
    if not ids:
        return {}
    await s.flush()
    open_case = case((Complaint.status.in_(sorted(rules.OPEN)), 1), else_=0)
    anonymous = case((Complaint.complainant_key.is_(None), 1), else_=0)
    figured = select(
        Complaint.cluster_id,
        func.count(),
        func.count(func.distinct(Complaint.complainant_key)),
        func.sum(anonymous),
        func.sum(open_case),
        func.min(Complaint.received_at),
        func.max(Complaint.received_at),
    ).group_by(Complaint.cluster_id)
    found = []
    # A slice of the clusters at a time: an import touches up to one per row
    # (50,000), past the 32,767 values a PostgreSQL statement may carry.
    for chunk in in_chunks(sorted(ids)):
        q = figured.where(Complaint.cluster_id.in_(chunk), Complaint.status != "rejected")
        found += (await s.execute(q)).all()
    sizes = dict.fromkeys(ids, 0)
    figures = []
    for cid, n, people, anon, open_n, first, last in found:
        sizes[cid] = n
        figures.append(
            {
                "cid": cid,
                "reports": n,
                "complainants": int(people) + int(anon or 0),
                "open_reports": int(open_n or 0),
                "first": first,
                "last": last,
            }
        )
    figures += [
        {"cid": cid, "reports": 0, "complainants": 0, "open_reports": 0}
        for cid, n in sizes.items()
        if n == 0
    ]
    # Core executemany: no ORM bookkeeping per row (a bulk import touches thousands).
    table = cast(Table, ComplaintCluster.__table__)
    counted = [f for f in figures if "first" in f]
    if counted:
        await s.execute(
            update(table)
            .where(table.c.id == bindparam("cid"))
            .values(
                reports=bindparam("reports"),
                complainants=bindparam("complainants"),
                open_reports=bindparam("open_reports"),
                first_received_at=bindparam("first"),
                last_received_at=bindparam("last"),
            ),
            counted,
        )
    emptied = [f for f in figures if "first" not in f]
    if emptied:
        await s.execute(
            update(table)
            .where(table.c.id == bindparam("cid"))
            .values(
                reports=bindparam("reports"),
                complainants=bindparam("complainants"),
                open_reports=bindparam("open_reports"),
            ),
            emptied,
        )
    return sizes


def _late(due: dt.datetime | None, done: dt.datetime | None, now: dt.datetime) -> bool:
    if due is None:
        return False
    return (done or now) >= due


async def create_complaints(
    s: AsyncSession,
    principal: Principal,
    items: list[NewComplaint],
    settings: Settings,
    now: dt.datetime,
) -> list[Created]:
    """Create complaints (oldest first, so each is checked against those before
    it), place each in its cluster, announce each; one transaction."""
    items = sorted(items, key=lambda n: (n.received_at, n.row))
    # Numbers first: taking them locks each district's counter until this
    # transaction ends, so a complaint filed at the same moment in the same
    # district waits, then sees this one when it looks for its duplicates.
    scopes: dict[str, list[NewComplaint]] = defaultdict(list)
    for n in items:
        scopes[f"complaint:{n.district}:{local_date(n.received_at).year}"].append(n)
    numbers: dict[int, str] = {}
    for scope, group in sorted(scopes.items()):
        _, district, year = scope.split(":")
        for n, seq in zip(group, await next_numbers(s, scope, len(group)), strict=True):
            numbers[id(n)] = f"12369-{district}-{year}-{seq:06d}"
    clusters = Clusters(s, dup_rules(settings))
    window = dt.timedelta(days=settings.duplicate_window_days)
    for key in sorted({(n.district, n.category) for n in items}):
        since = min(n.received_at for n in items if (n.district, n.category) == key) - window
        await clusters.load(*key, since)
    created: list[Created] = []
    new_clusters: list[ComplaintCluster] = []
    contacts: list[ComplainantContact] = []
    for n in items:
        c = _complaint(principal, n, numbers[id(n)], settings, now)
        cluster_id, matches, new = clusters.place(c)
        c.cluster_id, c.repeat = cluster_id, bool(matches)
        if new:
            new_clusters.append(
                ComplaintCluster(
                    id=cluster_id,
                    district=c.district,
                    category=c.category,
                    uscc=c.uscc,
                    first_received_at=c.received_at,
                    last_received_at=c.received_at,
                    reports=1,
                    complainants=1,
                    open_reports=1,
                    summary=c.description[:200],
                )
            )
        if n.contact.get("name") or n.contact.get("phone"):
            contacts.append(ComplainantContact(complaint_id=c.id, **n.contact))
        created.append(Created(c, matches, n.row))
    # Parents first: the tables have foreign keys but no ORM relationships.
    for batch in (new_clusters, [x.complaint for x in created], contacts):
        s.add_all(batch)
        await s.flush()
    await clusters.apply_merges()
    sizes = await refresh_clusters(s, clusters.touched)
    for item in created:
        c = item.complaint
        c.cluster_id = clusters.find(c.cluster_id)
        item.cluster_size = sizes.get(c.cluster_id, 1)
        outbox.emit(
            s,
            ev.ComplaintReceived(
                complaint_id=c.id,
                case_no=c.case_no,
                district=c.district,
                category=c.category,
                channel=c.channel,
                uscc=c.uscc,
                cluster_id=c.cluster_id,
                cluster_size=item.cluster_size,
                repeat=c.repeat,
                received_at=c.received_at,
            ),
        )
    return created


def _complaint(
    principal: Principal, n: NewComplaint, case_no: str, settings: Settings, now: dt.datetime
) -> Complaint:
    if n.received_at > now + dt.timedelta(minutes=5):
        raise field_error("received_at", msg("is in the future", "晚于当前时间"))
    accept_due = working_deadline(n.received_at, settings.accept_working_days)
    close_due = (
        working_deadline(n.accepted_at, settings.close_working_days) if n.accepted_at else None
    )
    overdue_at = None
    if n.status != "rejected":
        if _late(accept_due, n.accepted_at, now):
            overdue_at = accept_due
        elif n.status != "received" and _late(close_due, n.closed_at, now):
            overdue_at = close_due
    officer = principal.sub if principal.role == "officer" else None
    return Complaint(
        id=str(uuid.uuid4()),
        case_no=case_no,
        channel=n.channel,
        received_at=n.received_at,
        district=n.district,
        address=n.address,
        lat_e6=to_e6(n.lat),
        lng_e6=to_e6(n.lng),
        category=n.category,
        description=n.description,
        uscc=n.uscc,
        complainant_key=complainant_key(n.contact.get("phone")),
        status=n.status,
        first_responsible=officer,
        accept_due=accept_due,
        accepted_at=n.accepted_at,
        close_due=close_due,
        rejected_reason=n.rejected_reason,
        closed_at=n.closed_at,
        outcome=n.outcome,
        reopen_count=0,
        overdue_at=overdue_at,
        repeat=False,
        created_by=principal.sub,
        created_at=now,
        updated_at=now,
    )


async def receive(
    s: AsyncSession, principal: Principal, body: ComplaintIn, settings: Settings, now: dt.datetime
) -> Created:
    # A channel's machine client (a filer token of the city's WeChat or web
    # platform) files into every district unless its token names some.
    principal.require_district(body.district)
    (created,) = await create_complaints(s, principal, [NewComplaint.of(body)], settings, now)
    c = created.complaint
    record_audit(
        s,
        principal,
        "complaint.receive",
        "complaint",
        c.id,
        {
            "case_no": c.case_no,
            "district": c.district,
            "category": c.category,
            "channel": c.channel,
            "cluster_id": c.cluster_id,
            "repeat": c.repeat,
        },
    )
    return created


async def load_for_update(s: AsyncSession, complaint_id: str) -> Complaint:
    c = (
        await s.scalars(select(Complaint).where(Complaint.id == complaint_id).with_for_update())
    ).one_or_none()
    if c is None:
        raise NotFound(msg(f"no complaint {complaint_id}", f"没有投诉 {complaint_id}"))
    return c


async def act(
    s: AsyncSession,
    principal: Principal,
    c: Complaint,
    body: ActionIn,
    settings: Settings,
    now: dt.datetime,
) -> None:
    """One step of the lifecycle, the action named by its body's class (whose
    model has required what the step needs); validated completely before
    anything changes."""
    action = body.action
    after = rules.status_after(c.status, action, assigned_to=c.assigned_to)
    detail: dict[str, Any] = {"from": c.status, "to": after}
    if isinstance(body, ComplaintAcceptIn):
        c.accepted_at = now
        c.close_due = working_deadline(now, settings.close_working_days)
        if now >= c.accept_due and c.overdue_at is None:
            c.overdue_at = c.accept_due
    elif isinstance(body, ComplaintRejectIn):
        c.rejected_reason = detail["reason"] = body.reason
    elif isinstance(body, ComplaintAssignIn):
        c.assigned_to = detail["officer"] = body.officer
    elif isinstance(body, ComplaintReplyIn):
        c.reply, c.replied_at = body.reply, now
    elif isinstance(body, ComplaintCloseIn):
        c.outcome = detail["outcome"] = body.outcome
        c.outcome_note, c.closed_at = body.note, now
        if _late(c.close_due, now, now) and c.overdue_at is None:
            c.overdue_at = c.close_due
    else:  # ComplaintReopenIn
        detail["reason"] = body.reason
        c.reopen_count += 1
        c.closed_at = c.outcome = c.outcome_note = None
        c.close_due = working_deadline(now, settings.close_working_days)
        # A new closing clock; the clock missed before stays recorded:
        # `overdue_at` is when a clock was first missed ("ever overdue").
    if c.first_responsible is None and principal.role == "officer":
        c.first_responsible = principal.sub
    c.status, c.updated_at = after, now
    record_audit(s, principal, f"complaint.{action}", "complaint", c.id, detail)
    if action in ("reject", "close", "reopen"):
        await refresh_clusters(s, {c.cluster_id})
    if action == "close":
        assert c.closed_at is not None and c.outcome is not None
        outbox.emit(
            s,
            ev.ComplaintClosed(
                complaint_id=c.id,
                case_no=c.case_no,
                district=c.district,
                category=c.category,
                uscc=c.uscc,
                outcome=c.outcome,
                closed_at=c.closed_at,
                overdue=c.overdue_at is not None,
            ),
        )


def overdue_condition(now: dt.datetime) -> Any:
    return or_(
        (Complaint.status == "received") & (Complaint.accept_due <= now),
        Complaint.status.in_(["accepted", "assigned", "replied"]) & (Complaint.close_due <= now),
    )


async def mark_overdue(db: Database, now: dt.datetime) -> int:
    """The sweeper: record when an open complaint first missed its clock."""
    async with db.transaction() as s:
        due = case(
            (Complaint.status == "received", Complaint.accept_due), else_=Complaint.close_due
        )
        result = await s.execute(
            update(Complaint)
            .where(Complaint.overdue_at.is_(None), overdue_condition(now))
            .values(overdue_at=due)
        )
        n = int(result.rowcount or 0)  # type: ignore[attr-defined]
        if n:
            record_audit(s, SYSTEM, "complaint.mark_overdue", "complaint", "*", {"marked": n})
    return n


async def import_complaints(
    s: AsyncSession,
    principal: Principal,
    rows: list[Any],
    settings: Settings,
    now: dt.datetime,
) -> BulkReportBuilder:
    """Bulk import of complaints with their history (from the 12369 platform):
    valid rows are created and clustered (`created`, with the complaint's id
    and case number), each bad row is reported with why (`error`)."""
    report = BulkReportBuilder()
    items: list[NewComplaint] = []
    for raw in rows:
        if raw.data is None:
            report.error(raw.row, [(raw.field, raw.error or "unreadable")])
            continue
        try:
            body = ImportedComplaint.model_validate(raw.data)
        except ValidationError as exc:
            report.error(raw.row, validation_errors(exc.errors()))
            continue
        if not principal.may_act_in(body.district):
            report.error(
                raw.row, [("district", msg("is not one of your districts", "不是您所辖的区"))]
            )
        elif future := [
            name
            for name in ("received_at", "accepted_at", "closed_at")
            if (when := getattr(body, name)) is not None and when > now
        ]:
            report.error(raw.row, [(future[0], msg("is in the future", "晚于当前时间"))])
        else:
            items.append(NewComplaint.imported(body, raw.row))
    created = await create_complaints(s, principal, items, settings, now) if items else []
    for item in created:
        c = item.complaint
        report.add(item.row, "created", id=c.id, number=c.case_no)
    record_audit(
        s,
        principal,
        "complaint.import",
        "complaint_import",
        str(uuid.uuid4()),
        {"received": len(rows), "created": len(created)},
    )
    return report
