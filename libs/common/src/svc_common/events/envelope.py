"""CloudEvents 1.0 envelope and its Kafka protocol binding (binary mode).

In binary mode the attributes travel as `ce_`-prefixed headers, the data is the
message value (JSON) and `content-type` says so; the message key is the
`partitionkey` extension, the aggregate id, so one aggregate's events share a
partition and stay in order. Extensions used here: partitionkey, correlationid,
causationid and traceparent (distributed tracing extension).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from svc_common import context
from svc_common.fastjson import dumps_data
from svc_common.types import utcnow

SPEC_VERSION = "1.0"
JSON_CONTENT_TYPE = "application/json"


@dataclass
class Message:
    """What a transport carries: one record of a topic."""

    topic: str
    key: str | None
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    partition: int = 0
    offset: int = 0

    def header(self, name: str) -> str | None:
        """A header as text, for logs and labels: bytes that are not UTF-8
        read as U+FFFD, so a foreign message can still be named and kept
        (`Envelope.from_message` is the strict reading)."""
        for k, v in self.headers:
            if k == name:
                return v.decode("utf-8", "replace")
        return None


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=context.new_id)
    source: str
    type: str
    subject: str | None = None
    time: dt.datetime = Field(default_factory=utcnow)
    datacontenttype: str = JSON_CONTENT_TYPE
    specversion: str = SPEC_VERSION
    dataschema: str | None = None
    partitionkey: str
    correlationid: str | None = None
    causationid: str | None = None
    traceparent: str | None = None
    data: dict[str, Any]

    def to_message(self, topic: str) -> Message:
        attrs = self.model_dump(mode="json", exclude={"data"})
        attrs["data"] = self.data
        return message_of(attrs, topic)

    @classmethod
    def from_message(cls, msg: Message) -> Envelope:
        attrs: dict[str, Any] = {}
        for k, v in msg.headers:
            if k.startswith("ce_"):
                attrs[k[3:]] = v.decode()
        content_type = msg.header("content-type") or JSON_CONTENT_TYPE
        attrs["datacontenttype"] = content_type
        attrs.setdefault("partitionkey", msg.key or attrs.get("subject") or "")
        attrs["data"] = json.loads(msg.value.decode()) if msg.value else {}
        return cls.model_validate(attrs)


#: The attributes a message carries as `ce_` headers, in the model's order.
_HEADER_ATTRS = tuple(n for n in Envelope.model_fields if n not in ("data", "datacontenttype"))


def message_of(envelope: dict[str, Any], topic: str) -> Message:
    """The message of an envelope in its JSON form (the model's JSON-mode
    dump, as this process writes it to its outbox): what
    `Envelope.model_validate(envelope).to_message(topic)` gives, without
    building the model. Only for an envelope made here: one read back from
    elsewhere is validated first."""
    headers = [("content-type", str(envelope.get("datacontenttype", JSON_CONTENT_TYPE)).encode())]
    for name in _HEADER_ATTRS:
        if (value := envelope.get(name)) is not None:
            headers.append((f"ce_{name}", str(value).encode()))
    # In C: an import's event carries thousands of rows (svc_common.fastjson).
    value = dumps_data(envelope["data"])
    return Message(topic=topic, key=envelope["partitionkey"], value=value, headers=headers)
