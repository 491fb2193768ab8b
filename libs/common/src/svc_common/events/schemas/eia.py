"""Events eia-svc publishes on `eia.events` (key: filing id or park id)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from svc_common.events.registry import EventPayload, event
from svc_common.industries import EventIndustryCode
from svc_common.types import Tonnes

TOPIC = "eia.events"

#: The project refs of EIA filings: `eia:<filing id>`. Under them quota-svc
#: holds, allocates and releases quota for the filing's saga alone (项目编号
#: of an EIA filing); nobody reserves or resolves them by hand.
FILING_REF_PREFIX = "eia:"

Category = Literal["report", "report_form", "registration_form", "exempt"]
Channel = Literal["normal", "green", "bundled"]


class _FilingQuotaRequest(EventPayload):
    filing_id: str
    project_ref: str
    project_name: str
    uscc: str
    enterprise_name: str
    district: str
    industry_code: EventIndustryCode
    project_type: str
    category: Category
    channel: Channel
    vocs_increment_t: Tonnes
    park_id: str | None = None
    #: 1 for the first request; an officer's retry after a block counts up.
    attempt: int = 1


@event("eia.filing.accepted.v1", topic=TOPIC, key="filing_id")
class FilingAccepted(_FilingQuotaRequest):
    """A report / report-form filing was accepted (受理): quota is to be reserved."""


@event("eia.filing.quota_retry.v1", topic=TOPIC, key="filing_id")
class FilingQuotaRetry(_FilingQuotaRequest):
    """An officer asks again for quota for a filing blocked by a shortfall
    (or whose hold lapsed, or whose request went unanswered).

    `allocate_on_hold`: the filing is already approved — its hold lapsed
    before the allocation and the district was short (quota "lapsed_short")
    — so quota-svc holds the need and allocates it in the same step,
    answering quota.allocated.v1 (or quota.reservation_rejected.v1 with the
    shortfall again). Absent (older producers) it is false: a plain hold."""

    allocate_on_hold: bool = False


@event("eia.filing.approved.v1", topic=TOPIC, key="filing_id")
class FilingApproved(EventPayload):
    """A filing was approved (批复): its held quota is to be allocated and a
    permit application drafted. `industry_code` is the GB/T 4754 class with
    its section letter ("C2641"), as in every event; the schema also reads
    the digits alone ("2641", from producers before the change) as the
    lettered form."""

    filing_id: str
    project_ref: str
    project_name: str
    uscc: str
    enterprise_name: str
    district: str
    industry_code: EventIndustryCode
    category: Category
    vocs_increment_t: Tonnes
    park_id: str | None = None


@event("eia.filing.rejected.v1", topic=TOPIC, key="filing_id")
class FilingRejected(EventPayload):
    """A filing was rejected: its hold is to be released."""

    filing_id: str
    project_ref: str
    district: str
    reason: str


@event("eia.filing.withdrawn.v1", topic=TOPIC, key="filing_id")
class FilingWithdrawn(EventPayload):
    """A filing was withdrawn by its applicant: its hold is to be released."""

    filing_id: str
    project_ref: str
    district: str
    reason: str | None = None


@event("eia.registration.filed.v1", topic=TOPIC, key="filing_id")
class RegistrationFormFiled(EventPayload):
    """A registration-form project (登记表) was filed automatically, no human."""

    filing_id: str
    filing_no: str
    uscc: str
    district: str
    project_type: str
    filer: str
    sampled_for_check: bool = False


#: What each row of RegistrationFormsFiled holds, in this order.
REGISTRATION_ROW_FIELDS = ("filing_id", "filing_no", "uscc", "district", "project_type")
#: Filings per RegistrationFormsFiled: its message stays far below a broker's
#: 1 MB default limit (a row is about 100 bytes).
REGISTRATION_BATCH_ROWS = 2000


@event("eia.registration.batch_filed.v1", topic=TOPIC, key="batch_id")
class RegistrationFormsFiled(EventPayload):
    """Registration-form projects (登记表) filed together by one bulk upload:
    one event per chunk of up to 2,000 filings instead of one
    eia.registration.filed.v1 each (the single-filing endpoint still sends
    that). Each row holds the values of `fields` in that order; `filings()`
    gives them as eia.registration.filed.v1 payloads."""

    batch_id: str
    filer: str
    fields: list[str] = Field(default_factory=lambda: list(REGISTRATION_ROW_FIELDS))
    rows: list[list[str]] = Field(max_length=REGISTRATION_BATCH_ROWS)
    #: The filing ids among `rows` drawn for a post-hoc check (事后抽查).
    sampled_for_check: list[str] = Field(default_factory=list)

    def filings(self) -> list[RegistrationFormFiled]:
        sampled = set(self.sampled_for_check)
        out = []
        for row in self.rows:
            values = dict(zip(self.fields, row, strict=False))
            out.append(
                RegistrationFormFiled.model_validate(
                    {
                        **values,
                        "filer": self.filer,
                        "sampled_for_check": values.get("filing_id") in sampled,
                    }
                )
            )
        return out


@event("eia.registration.revoked.v1", topic=TOPIC, key="filing_id")
class RegistrationFormRevoked(EventPayload):
    """An officer revoked a false registration-form filing after a post-hoc check."""

    filing_id: str
    filing_no: str
    uscc: str
    district: str
    reason: str
    revoked_by: str


@event("eia.park.registered.v1", topic=TOPIC, key="park_id")
class ParkRegistered(EventPayload):
    """A park with a bundled EIA (多评合一) was registered with its VOCs sub-pool,
    to be carved out of the district pool."""

    park_id: str
    district: str
    name: str
    vocs_subpool_t: Tonnes
    covered_project_types: list[str]


Decision = Literal["approved", "rejected"]
