"""What supervision-svc handles: permit-svc's register (enterprises, permits,
registrations). It learns the register only from these events, never from
permit-svc's tables. What it publishes is declared in
svc_common.events.schemas.supervision and written with outbox.emit."""

from __future__ import annotations

from svc_common.events.schemas import permit as ev
from svc_common.inbox import EventHandlers

from supervision_svc.registry import service as registry

handlers = EventHandlers()
handlers.on(ev.EnterpriseRegistered, ev.EnterpriseUpdated, ev.EnterpriseClosed)(
    registry.on_enterprise
)
handlers.on(ev.EnterprisesImported)(registry.on_enterprises_imported)
handlers.on(ev.PermitIssued)(registry.on_permit_issued)
handlers.on(ev.PermitChanged)(registry.on_permit_changed)
handlers.on(ev.PermitRenewed)(registry.on_permit_renewed)
handlers.on(
    ev.PermitSuspended, ev.PermitReinstated, ev.PermitRevoked, ev.PermitCancelled, ev.PermitExpired
)(registry.on_permit_status)
handlers.on(ev.RegistrationFiled)(registry.on_registration_filed)
handlers.on(ev.RegistrationCancelled, ev.RegistrationExpired)(registry.on_registration_ended)
