"""Events: the CloudEvents envelope, the registry of versioned payloads and
the schemas of every event the services exchange."""

from svc_common.events.envelope import Envelope, Message
from svc_common.events.registry import EventPayload, registry

__all__ = ["Envelope", "EventPayload", "Message", "registry"]
