"""The registry of versioned event payloads, shared by producers and consumers.

A payload class is registered under its CloudEvents `type`, which ends in its
version (`quota.reserved.v1`); a breaking change is a new class with `.v2`,
published beside the old one until every consumer has moved. Consumers ignore
fields they do not know, so adding a field is not breaking.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

SCHEMA_URN = "urn:envbureau:events:"


class EventPayload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: ClassVar[str]
    topic: ClassVar[str]
    #: Name of the field whose value is the aggregate id (message key).
    key_field: ClassVar[str]

    def partition_key(self) -> str:
        return str(getattr(self, self.key_field))


P = TypeVar("P", bound=type[EventPayload])


class Registry:
    def __init__(self) -> None:
        self._by_type: dict[str, type[EventPayload]] = {}

    def register(self, event_type: str, *, topic: str, key: str) -> Callable[[P], P]:
        def decorate(cls: P) -> P:
            if event_type in self._by_type:
                raise ValueError(f"event type {event_type} registered twice")
            cls.event_type = event_type
            cls.topic = topic
            cls.key_field = key
            self._by_type[event_type] = cls
            return cls

        return decorate

    def model_for(self, event_type: str) -> type[EventPayload] | None:
        return self._by_type.get(event_type)

    def published(self) -> Registry:
        """The payloads the services publish (those of svc_common.events.schemas),
        without any a test registered for itself."""
        out = Registry()
        out._by_type = {
            t: cls
            for t, cls in self._by_type.items()
            if cls.__module__.startswith("svc_common.events.schemas.")
        }
        return out

    def types(self) -> list[str]:
        return sorted(self._by_type)

    def topics(self) -> list[str]:
        return sorted({cls.topic for cls in self._by_type.values()})

    def json_schemas(self) -> dict[str, dict[str, Any]]:
        """JSON Schema of every payload, keyed by event type."""
        out: dict[str, dict[str, Any]] = {}
        for event_type, cls in sorted(self._by_type.items()):
            schema = cls.model_json_schema(mode="serialization")
            schema["$id"] = SCHEMA_URN + event_type
            schema["title"] = event_type
            out[event_type] = schema
        return out

    def asyncapi(self, services: list[Any] | None = None) -> dict[str, Any]:
        """The AsyncAPI 3 document (svc_common.events.asyncapi); `services`
        (ServiceEvents) say who publishes and who consumes each topic."""
        from svc_common.events.asyncapi import document

        return document(self, services or [])


registry = Registry()
event = registry.register


def load_all() -> Registry:
    """Import every schema module so the registry is complete."""
    from svc_common.events.schemas import eia, permit, quota, supervision  # noqa: F401

    return registry
