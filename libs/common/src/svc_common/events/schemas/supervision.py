"""Events supervision-svc publishes on `supervision.events` (key: complaint,
case, inspection, enterprise or alert id). No event carries a complainant's
personal data: only the handling district's officers ever see it."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from svc_common.events.registry import EventPayload, event

TOPIC = "supervision.events"

ComplaintCategory = Literal["air", "odor", "noise", "water", "waste", "soil", "radiation", "other"]
ComplaintOutcome = Literal["substantiated", "not_substantiated", "referred"]
MeasureKind = Literal["warning", "fine", "rectification", "permit_suspension"]
AlertLevel = Literal["yellow", "orange", "red"]


@event("supervision.complaint.received.v1", topic=TOPIC, key="complaint_id")
class ComplaintReceived(EventPayload):
    """A 12369 complaint was received (信访投诉); `repeat` when it joined an
    existing cluster of the same problem (重复反映)."""

    complaint_id: str
    case_no: str
    district: str
    category: ComplaintCategory
    channel: str
    uscc: str | None = None
    cluster_id: str
    cluster_size: int
    repeat: bool
    received_at: dt.datetime


@event("supervision.complaint.closed.v1", topic=TOPIC, key="complaint_id")
class ComplaintClosed(EventPayload):
    """A complaint was closed (办结) with its outcome."""

    complaint_id: str
    case_no: str
    district: str
    category: ComplaintCategory
    uscc: str | None = None
    outcome: ComplaintOutcome
    closed_at: dt.datetime
    overdue: bool


@event("supervision.inspection.recorded.v1", topic=TOPIC, key="inspection_id")
class InspectionRecorded(EventPayload):
    """An on-site inspection (执法检查) was recorded with its findings."""

    inspection_id: str
    inspection_no: str
    uscc: str
    district: str
    inspected_at: dt.datetime
    findings: int
    plan_id: str | None = None


@event("supervision.case.decided.v1", topic=TOPIC, key="case_id")
class CaseDecided(EventPayload):
    """An enforcement case (立案查处) was decided by a second officer (four eyes)."""

    case_id: str
    case_no: str
    uscc: str
    district: str
    measure: MeasureKind
    fine_cny: int | None = None
    approved: bool
    proposed_by: str
    decided_by: str
    decided_at: dt.datetime


@event("supervision.permit_suspension.decided.v1", topic=TOPIC, key="case_id")
class PermitSuspensionDecided(EventPayload):
    """A decided case suspends an enterprise's discharge permit: permit-svc
    suspends `permit_id` with the case as its reason."""

    case_id: str
    case_no: str
    uscc: str
    district: str
    permit_id: str
    permit_no: str | None = None
    legal_basis: str
    reason: str
    decided_by: str


@event("supervision.case.closed.v1", topic=TOPIC, key="case_id")
class CaseClosed(EventPayload):
    """A case was closed once its measure was carried out or rectified (整改)."""

    case_id: str
    case_no: str
    uscc: str
    district: str
    closed_at: dt.datetime


@event("supervision.grade.set.v1", topic=TOPIC, key="uscc")
class GradeSet(EventPayload):
    """An enterprise's environmental performance grade (环保绩效分级) was set."""

    uscc: str
    district: str
    grade: Literal["A", "B", "C", "D", "leading"]
    benchmark: Literal["national", "tianjin", "none"]
    valid_from: dt.date
    valid_to: dt.date


@event("supervision.alert.issued.v1", topic=TOPIC, key="alert_id")
class AlertIssued(EventPayload):
    """A heavy-pollution weather alert (重污染天气预警) was issued for districts."""

    alert_id: str
    level: AlertLevel
    districts: list[str]
    starts_at: dt.datetime
    ends_at: dt.datetime


@event("supervision.alert.lifted.v1", topic=TOPIC, key="alert_id")
class AlertLifted(EventPayload):
    """A heavy-pollution weather alert was lifted early (解除预警): it ended at
    `lifted_at` instead of its planned end; `replaced_by` names the alert of
    another level that replaced it (升级/降级), if that is why."""

    alert_id: str
    level: AlertLevel
    districts: list[str]
    starts_at: dt.datetime
    planned_ends_at: dt.datetime
    lifted_at: dt.datetime
    replaced_by: str | None = None
