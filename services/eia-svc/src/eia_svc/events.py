"""What eia-svc handles from other services' topics. What it publishes is
declared in svc_common.events.schemas.eia and written with outbox.emit."""

from __future__ import annotations

from svc_common.events.schemas.quota import (
    QuotaAllocated,
    QuotaReleased,
    QuotaReservationRejected,
    QuotaReserved,
    QuotaSubpoolFunded,
    QuotaTransferRejected,
)
from svc_common.inbox import EventHandlers

from eia_svc.parks import service as parks
from eia_svc.quota_saga import service as quota_saga

handlers = EventHandlers()
# The saga's replies: the filing locked and written back on the driver.
handlers.on(QuotaReserved, on_driver=True)(quota_saga.on_quota_reserved)
handlers.on(QuotaReservationRejected, on_driver=True)(quota_saga.on_quota_rejected)
handlers.on(QuotaReleased, on_driver=True)(quota_saga.on_quota_released)
handlers.on(QuotaAllocated, on_driver=True)(quota_saga.on_quota_allocated)
handlers.on(QuotaSubpoolFunded)(parks.on_subpool_funded)
handlers.on(QuotaTransferRejected)(parks.on_subpool_refused)
