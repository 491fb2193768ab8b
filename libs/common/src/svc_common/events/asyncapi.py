"""The AsyncAPI 3 document of the bureau's events (事件契约), from the registry.

One Kafka topic per publishing service is a channel; each registered payload
is a message on its topic with its JSON Schema (all schemas in
`components.schemas`, so every `$ref` resolves inside the document), the
CloudEvents binary-mode headers as a message trait, the Kafka key, and an
example that the payload's own model accepts. Operations say who sends on a
channel and who receives which messages from it.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from svc_common.events.envelope import JSON_CONTENT_TYPE, SPEC_VERSION
from svc_common.events.registry import EventPayload, Registry

REF_PREFIX = "#/components/schemas/"
EXAMPLE_TIME = "2026-03-01T09:30:00+08:00"
EXAMPLE_ID = "0f8e6d2c-3b1a-4c5d-9e7f-123456789abc"


@dataclass
class ServiceEvents:
    """What one service does with events: the topics it owns (publishes) and
    the event types it handles."""

    name: str
    own_topics: list[str]
    consumes: list[str] = field(default_factory=list)


def _name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


def _camel(text: str) -> str:
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", text) if p]
    return parts[0].lower() + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def _rewrite_refs(node: Any) -> Any:
    """`#/$defs/X` (pydantic's local definitions) → `#/components/schemas/X`."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.startswith("#/$defs/"):
                out[k] = REF_PREFIX + v.removeprefix("#/$defs/")
            else:
                out[k] = _rewrite_refs(v)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v) for v in node]
    return node


CLOUDEVENTS_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "CloudEvents 1.0 attributes in Kafka binary mode: `ce_`-prefixed headers; "
    "the value is the JSON data and `content-type` says so.",
    "required": [
        "ce_id",
        "ce_source",
        "ce_type",
        "ce_specversion",
        "ce_time",
        "ce_partitionkey",
        "content-type",
    ],
    "properties": {
        "ce_id": {
            "type": "string",
            "description": "unique per event; the inbox deduplicates by it",
        },
        "ce_source": {"type": "string", "description": "the publishing service, e.g. quota-svc"},
        "ce_type": {"type": "string", "description": "the event type with its version"},
        "ce_specversion": {"type": "string", "const": SPEC_VERSION},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_subject": {"type": "string", "description": "the aggregate the event is about"},
        "ce_dataschema": {"type": "string", "description": "urn:envbureau:events:<type>"},
        "ce_partitionkey": {
            "type": "string",
            "description": "the aggregate id, also the message key: one aggregate's events stay "
            "in order on one partition",
        },
        "ce_correlationid": {"type": "string", "description": "the request or saga it belongs to"},
        "ce_causationid": {"type": "string", "description": "the event that caused this one"},
        "ce_traceparent": {
            "type": "string",
            "description": "W3C trace context (distributed tracing extension)",
            "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
        },
        "content-type": {"type": "string", "const": JSON_CONTENT_TYPE},
    },
}


def _example_value(name: str, schema: dict[str, Any], defs: dict[str, Any], depth: int = 0) -> Any:
    """A plausible value for a schema (the model validates it afterwards)."""
    if "$ref" in schema:
        return _example_value(name, defs[schema["$ref"].rsplit("/", 1)[1]], defs, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("examples"):
        return schema["examples"][0]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"]
            if options:
                return _example_value(name, options[0], defs, depth + 1)
            return None
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {
            k: _example_value(k, v, defs, depth + 1)
            for k, v in schema.get("properties", {}).items()
            if k in schema.get("required", []) or depth == 0 or "default" not in v
        }
    if kind == "array":
        if "prefixItems" in schema:
            return [_example_value(name, s, defs, depth + 1) for s in schema["prefixItems"]]
        return [_example_value(name, schema.get("items", {}), defs, depth + 1)]
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), 1)
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return False
    if kind == "string":
        return _example_text(name, schema)
    if "default" in schema:
        return schema["default"]
    return None


def _example_text(name: str, schema: dict[str, Any]) -> str:
    from svc_common.uscc import make_uscc

    fmt = schema.get("format")
    if fmt == "date-time":
        return EXAMPLE_TIME
    if fmt == "date":
        return EXAMPLE_TIME[:10]
    if name == "uscc" or name.endswith("_uscc"):
        return make_uscc("120119", 7)
    if name == "district" or name.endswith("_district"):
        return "120119"
    if name == "pollutant":
        return "VOCs"
    if name.endswith("_id") or name == "id":
        return EXAMPLE_ID
    if name.endswith("_no"):
        return "DJB-120119-2026-000001"
    return name.replace("_", " ")


def example_for(model: type[EventPayload], schema: dict[str, Any]) -> dict[str, Any]:
    """An example payload of `model`, checked by the model itself."""
    value = _example_value("", schema, schema.get("$defs", {}))
    parsed = model.model_validate(value)
    dumped: dict[str, Any] = parsed.model_dump(mode="json")
    return dumped


def document(
    registry: Registry,
    services: list[ServiceEvents],
    *,
    version: str = "1.0.0",
    kafka_host: str = "localhost:9092",
) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    owner = {t: s.name for s in services for t in s.own_topics}
    for event_type in registry.types():
        cls = registry.model_for(event_type)
        assert cls is not None
        raw = cls.model_json_schema(mode="serialization")
        example = example_for(cls, raw)
        for name, sub in raw.pop("$defs", {}).items():
            schemas[name] = _rewrite_refs(sub)
        payload_name = _name(event_type)
        schemas[payload_name] = _rewrite_refs({**raw, "title": event_type})
        key = str(example.get(cls.key_field, ""))
        headers = {
            "ce_id": EXAMPLE_ID,
            "ce_source": owner.get(cls.topic, cls.topic.split(".")[0] + "-svc"),
            "ce_type": event_type,
            "ce_specversion": SPEC_VERSION,
            "ce_time": EXAMPLE_TIME,
            "ce_partitionkey": key,
            "ce_dataschema": f"urn:envbureau:events:{event_type}",
            "content-type": JSON_CONTENT_TYPE,
        }
        doc = (cls.__doc__ or "").strip()
        messages[payload_name] = {
            "name": event_type,
            "title": event_type,
            "summary": doc.split("\n")[0] or event_type,
            "contentType": JSON_CONTENT_TYPE,
            "traits": [{"$ref": "#/components/messageTraits/cloudEvents"}],
            "payload": {"$ref": REF_PREFIX + payload_name},
            "bindings": {
                "kafka": {
                    "key": {"type": "string", "description": f"the {cls.key_field}"},
                    "bindingVersion": "0.5.0",
                }
            },
            "examples": [{"name": payload_name, "headers": headers, "payload": example}],
        }
        if doc:
            messages[payload_name]["description"] = doc
        channel_id = _name(cls.topic)
        channel = channels.setdefault(
            channel_id,
            {
                "address": cls.topic,
                "title": cls.topic,
                "description": f"Events {owner.get(cls.topic, 'its service')} publishes; "
                f"dead letters of its consumers go to {cls.topic}.dlq.",
                "servers": [{"$ref": "#/servers/kafka"}],
                "messages": {},
                "bindings": {"kafka": {"topic": cls.topic, "bindingVersion": "0.5.0"}},
            },
        )
        channel["messages"][payload_name] = {"$ref": f"#/components/messages/{payload_name}"}
    for channel_id, channel in sorted(channels.items()):
        topic = channel["address"]
        publisher = owner.get(topic)
        refs = [{"$ref": f"#/channels/{channel_id}/messages/{m}"} for m in channel["messages"]]
        if publisher:
            operations[_camel(f"{publisher} publishes {topic}")] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{channel_id}"},
                "title": f"{publisher} publishes on {topic}",
                "summary": f"{publisher} writes these events in its outbox and relays them "
                f"to {topic}",
                "messages": refs,
            }
        for svc in services:
            handled = [m for m in channel["messages"] if messages[m]["name"] in set(svc.consumes)]
            if not handled:
                continue
            operations[_camel(f"{svc.name} consumes {topic}")] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{channel_id}"},
                "title": f"{svc.name} consumes {topic}",
                "summary": f"{svc.name} handles these events once each (inbox), in its "
                f"consumer group {svc.name}",
                "messages": [{"$ref": f"#/channels/{channel_id}/messages/{m}"} for m in handled],
                "bindings": {"kafka": {"groupId": {"type": "string", "const": svc.name}}},
            }
    return {
        "asyncapi": "3.1.0",
        "info": {
            "title": "Environment bureau events",
            "version": version,
            "description": "Domain events between permit-svc, quota-svc, eia-svc and "
            "supervision-svc: written to each service's outbox in the transaction of the "
            "change, relayed to Kafka (CloudEvents 1.0, binary mode), consumed at least once "
            "and handled once through each consumer's inbox. A breaking change is a new "
            "`.vN` type published beside the old one.",
        },
        "defaultContentType": JSON_CONTENT_TYPE,
        "servers": {
            "kafka": {
                "host": kafka_host,
                "protocol": "kafka",
                "description": "The Kafka cluster (KAFKA_BOOTSTRAP); the embedded default "
                "passes the same messages in-process instead.",
            }
        },
        "channels": dict(sorted(channels.items())),
        "operations": dict(sorted(operations.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "messages": dict(sorted(messages.items())),
            "messageTraits": {
                "cloudEvents": {
                    "headers": copy.deepcopy(CLOUDEVENTS_HEADERS),
                }
            },
        },
    }
