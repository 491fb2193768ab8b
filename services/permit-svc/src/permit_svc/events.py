"""What permit-svc handles from other services' topics. What it publishes is
declared in svc_common.events.schemas.permit and written with outbox.emit."""

from __future__ import annotations

from svc_common.inbox import EventHandlers

handlers = EventHandlers()
