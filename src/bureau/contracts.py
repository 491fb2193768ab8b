"""The event contracts as files: each payload's JSON Schema and the AsyncAPI
document, built from the registry and the four services' specs (who
publishes, who consumes). `bureau schemas` writes them to docs/events; a test
checks that the committed files are what this code writes."""

from __future__ import annotations

import json

from svc_common.events.asyncapi import ServiceEvents
from svc_common.events.registry import load_all


def services() -> list[ServiceEvents]:
    from eia_svc.app import spec as eia_spec
    from permit_svc.app import spec as permit_spec
    from quota_svc.app import spec as quota_spec
    from supervision_svc.app import spec as supervision_spec

    out = []
    for make in (permit_spec, quota_spec, eia_spec, supervision_spec):
        s = make()
        consumes = s.handlers.event_types() if s.handlers is not None else []
        out.append(ServiceEvents(name=s.name, own_topics=list(s.own_topics), consumes=consumes))
    return out


def _dump(doc: object) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def event_documents() -> dict[str, str]:
    """File name → content of every event contract file."""
    reg = load_all().published()
    files = {f"{t}.schema.json": _dump(s) for t, s in reg.json_schemas().items()}
    files["asyncapi.json"] = _dump(reg.asyncapi(services()))
    return files
