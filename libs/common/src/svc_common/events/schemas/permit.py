"""Events permit-svc publishes on `permit.events` (key: permit or registration id)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from svc_common.events.registry import EventPayload, event
from svc_common.events.schemas.common import PollutantAmount, PollutantChange
from svc_common.types import SignedTonnes, Tonnes

TOPIC = "permit.events"

CancelReason = Literal["closure", "process_closed", "merged", "other"]


@event("permit.issued.v1", topic=TOPIC, key="permit_id")
class PermitIssued(EventPayload):
    """A discharge permit certificate (排污许可证) was issued."""

    permit_id: str
    permit_no: str
    uscc: str
    enterprise_name: str
    district: str
    industry_code: str
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
    industry_code: str
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
