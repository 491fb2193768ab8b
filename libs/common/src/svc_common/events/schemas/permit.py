"""Events permit-svc publishes on `permit.events` (key: permit or registration id)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from svc_common.events.registry import EventPayload, event
from svc_common.events.schemas.common import PollutantAmount, PollutantChange
from svc_common.industries import EventIndustryCode
from svc_common.types import SignedTonnes, Tonnes

TOPIC = "permit.events"

CancelReason = Literal["closure", "process_closed", "merged", "other"]
#: Each reason in words (English, Chinese): the one table quota-svc writes a
#: reclaim candidate's note by and the console reads and says it by.
CANCEL_REASON_WORDS: dict[str, tuple[str, str]] = {
    "closure": ("enterprise closed", "企业关停"),
    "process_closed": ("process closed", "生产工序关停"),
    "merged": ("enterprises merged", "企业合并"),
    "other": ("other reason", "其他原因"),
}


@event("permit.issued.v1", topic=TOPIC, key="permit_id")
class PermitIssued(EventPayload):
    """A discharge permit certificate (排污许可证) was issued."""

    permit_id: str
    permit_no: str
    uscc: str
    enterprise_name: str
    district: str
    industry_code: EventIndustryCode
    category: Literal["key", "simplified"]
    pollutants: list[PollutantAmount]
    valid_from: dt.date
    valid_to: dt.date
    project_ref: str | None = None


@event("permit.changed.v1", topic=TOPIC, key="permit_id")
class PermitChanged(EventPayload):
    """A permit was changed (变更); a VOCs decrease is a reclaim candidate."""

    permit_id: str
    permit_no: str
    uscc: str
    enterprise_name: str
    district: str
    pollutant_changes: list[PollutantChange]
    vocs_delta_t: SignedTonnes
    reason: str | None = None
    #: Set when the change amends the permit for an emission-rights trade
    #: (排污权交易): a decrease then frees nothing for the district pool.
    trade_id: str | None = None
    #: Who changed it: the person's `sub`; None for a change the system made
    #: (a trade's amendment) and in events sent before the field existed. A
    #: decrease's reclaim is then confirmed by someone else (four eyes).
    actor: str | None = None


@event("permit.cancelled.v1", topic=TOPIC, key="permit_id")
class PermitCancelled(EventPayload):
    """A permit was cancelled (注销); on closure its amounts are freed for reclaim."""

    permit_id: str
    permit_no: str
    uscc: str
    enterprise_name: str
    district: str
    reason: CancelReason
    note: str | None = None
    pollutants_freed: list[PollutantAmount]
    vocs_freed_t: Tonnes
    #: Who cancelled it: the person's `sub`; None for a cancellation the
    #: system made and in events sent before the field existed. The reclaim
    #: of what it frees is then confirmed by someone else (four eyes).
    actor: str | None = None


@event("permit.expired.v1", topic=TOPIC, key="permit_id")
class PermitExpired(EventPayload):
    """A permit reached its valid-to date without renewal."""

    permit_id: str
    permit_no: str
    uscc: str
    district: str
    expired_on: dt.date


@event("registration.filed.v1", topic=TOPIC, key="registration_id")
class RegistrationFiled(EventPayload):
    """A discharge registration (排污登记) was filed, at once, with no approval."""

    registration_id: str
    registration_no: str
    uscc: str
    enterprise_name: str
    district: str
    industry_code: EventIndustryCode
    valid_to: dt.date


@event("registration.cancelled.v1", topic=TOPIC, key="registration_id")
class RegistrationCancelled(EventPayload):
    """A discharge registration was cancelled."""

    registration_id: str
    registration_no: str
    uscc: str
    district: str
    reason: str | None = None


@event("permit.renewed.v1", topic=TOPIC, key="permit_id")
class PermitRenewed(EventPayload):
    """A permit was renewed (延续) for a new term."""

    permit_id: str
    permit_no: str
    uscc: str
    district: str
    valid_from: dt.date
    valid_to: dt.date


@event("permit.suspended.v1", topic=TOPIC, key="permit_id")
class PermitSuspended(EventPayload):
    """A permit was suspended: discharging under it is not allowed until reinstated."""

    permit_id: str
    permit_no: str
    uscc: str
    district: str
    reason: str


@event("permit.reinstated.v1", topic=TOPIC, key="permit_id")
class PermitReinstated(EventPayload):
    """A suspension was lifted; the permit is in force again."""

    permit_id: str
    permit_no: str
    uscc: str
    district: str
    reason: str | None = None


@event("permit.revoked.v1", topic=TOPIC, key="permit_id")
class PermitRevoked(EventPayload):
    """A permit was revoked (撤销); it is to be cancelled (注销) afterwards."""

    permit_id: str
    permit_no: str
    uscc: str
    district: str
    reason: str


@event("registration.changed.v1", topic=TOPIC, key="registration_id")
class RegistrationChanged(EventPayload):
    """A discharge registration's details were changed (变更)."""

    registration_id: str
    registration_no: str
    uscc: str
    district: str
    reason: str | None = None


@event("registration.expired.v1", topic=TOPIC, key="registration_id")
class RegistrationExpired(EventPayload):
    """A discharge registration reached its valid-to date."""

    registration_id: str
    registration_no: str
    uscc: str
    district: str
    expired_on: dt.date


class ReportFinding(BaseModel):
    """A plausibility finding on an execution report: `over_permitted` (an
    annual amount above the permitted amount, 超许可排放量),
    `quarters_over_permitted` / `months_over_permitted` (the year's quarterly
    or monthly reports together above it); `reported_t` is the amount (or
    the sum) found above `permitted_t`."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    code: Literal["over_permitted", "quarters_over_permitted", "months_over_permitted"]
    pollutant: str
    reported_t: Tonnes
    permitted_t: Tonnes


@event("permit.execution_report.filed.v1", topic=TOPIC, key="permit_id")
class ExecutionReportFiled(EventPayload):
    """A permit execution report (排污许可证执行报告) was filed for a period
    (`2025`, `2025-Q3`, `2025-07`). A second filing for the period is a
    correction: a new `version` that `supersedes` the report before."""

    report_id: str
    permit_id: str
    permit_no: str | None
    uscc: str
    district: str
    period: str
    frequency: Literal["annual", "quarterly", "monthly"]
    version: int
    supersedes: str | None = None
    emissions: list[PollutantAmount]
    findings: list[ReportFinding]
    #: Filed after the period's due date.
    late: bool


# ---------------------------------------------------------------- enterprises
#: What the register says about an enterprise's operation.
OperatingStatus = Literal["operating", "suspended", "closed"]
ManagementCategory = Literal["key", "simplified", "registration"]


class EnterpriseSnapshot(BaseModel):
    """An enterprise (固定污染源) as permit-svc's register has it after a change.
    `updated_at` is when permit-svc changed it: a consumer keeps the newest
    snapshot, whatever order snapshots arrive in (a bulk import's batch and a
    single change may travel on different partitions)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    uscc: str
    name: str
    district: str
    industry_code: EventIndustryCode
    category: ManagementCategory
    operating_status: OperatingStatus
    address: str = ""
    updated_at: dt.datetime


@event("enterprise.registered.v1", topic=TOPIC, key="uscc")
class EnterpriseRegistered(EnterpriseSnapshot, EventPayload):
    """A fixed pollution source was put on the register."""


@event("enterprise.updated.v1", topic=TOPIC, key="uscc")
class EnterpriseUpdated(EnterpriseSnapshot, EventPayload):
    """An enterprise's name, address, industry or operating status changed."""


@event("enterprise.closed.v1", topic=TOPIC, key="uscc")
class EnterpriseClosed(EnterpriseSnapshot, EventPayload):
    """An enterprise closed (关停): it leaves the register of operating sources."""

    reason: str | None = None


#: The order of the values in each row of EnterprisesImported.
ENTERPRISE_ROW_FIELDS = (
    "uscc",
    "name",
    "district",
    "industry_code",
    "category",
    "operating_status",
    "address",
)


@event("enterprise.imported.v1", topic=TOPIC, key="batch_id")
class EnterprisesImported(EventPayload):
    """A chunk of a bulk import (registered or updated enterprises): one event
    per chunk, not per row, so a national-scale import stays a bulk write.
    Each row holds the values of `fields` in that order (compact: an object
    per row would cost the import more than its own database writes)."""

    batch_id: str
    updated_at: dt.datetime
    fields: list[str] = Field(default_factory=lambda: list(ENTERPRISE_ROW_FIELDS))
    rows: list[list[str]]

    def snapshots(self) -> list[EnterpriseSnapshot]:
        return [
            EnterpriseSnapshot.model_validate(
                {**dict(zip(self.fields, row, strict=False)), "updated_at": self.updated_at}
            )
            for row in self.rows
        ]
