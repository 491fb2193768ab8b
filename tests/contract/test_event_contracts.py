"""The AsyncAPI document and the event JSON Schemas in docs/events are what
the code says (`make schemas` writes them), the official AsyncAPI parser
accepts the document, and every message's example is valid for its payload
schema with every `$ref` resolved inside the document."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource

from bureau.contracts import event_documents

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "docs" / "events"
PARSER = ROOT / "tests" / "contract" / "asyncapi-parser"


def test_committed_event_contracts_are_current() -> None:
    files = event_documents()
    stale = [
        n
        for n, text in files.items()
        if not (EVENTS / n).exists() or (EVENTS / n).read_text() != text
    ]
    extra = sorted({p.name for p in EVENTS.glob("*.json")} - set(files))
    assert not stale and not extra, (
        f"docs/events is out of date (changed: {stale}, no longer produced: {extra}): "
        "run `make schemas` and commit the result"
    )


def _asyncapi() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((EVENTS / "asyncapi.json").read_text())
    return doc


def test_every_example_is_valid_for_its_payload_and_headers() -> None:
    doc = _asyncapi()
    registry: Registry = Registry().with_resource("urn:asyncapi", Resource.opaque(doc))
    messages = doc["components"]["messages"]
    headers = doc["components"]["messageTraits"]["cloudEvents"]["headers"]
    assert len(messages) >= 30
    for name, message in messages.items():
        payload = {"$ref": "urn:asyncapi" + message["payload"]["$ref"]}
        validator = jsonschema.Draft202012Validator(payload, registry=registry)
        for example in message["examples"]:
            validator.validate(example["payload"])
            jsonschema.validate(example["headers"], headers)
            assert example["headers"]["ce_type"] == message["name"], name


def test_operations_cover_every_channel_with_its_publisher() -> None:
    doc = _asyncapi()
    sends = {op["channel"]["$ref"] for op in doc["operations"].values() if op["action"] == "send"}
    assert sends == {f"#/channels/{c}" for c in doc["channels"]}
    receives = [op for op in doc["operations"].values() if op["action"] == "receive"]
    assert receives, "no service consumes anything?"
    for op in doc["operations"].values():
        channel = op["channel"]["$ref"].rsplit("/", 1)[1]
        for ref in op["messages"]:
            assert ref["$ref"].startswith(f"#/channels/{channel}/messages/")


def _parser_dir() -> Path | None:
    given = os.environ.get("ASYNCAPI_PARSER_DIR")
    if given:
        return Path(given)
    if shutil.which("npm") is None:
        return None
    out = subprocess.run(
        [str(ROOT / "scripts" / "asyncapi-parser.sh")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    return Path(out.stdout.strip()) if out.returncode == 0 else None


def test_the_official_asyncapi_parser_accepts_the_document() -> None:
    parser = _parser_dir()
    if parser is None:
        if os.environ.get("REQUIRE_SERVERS") == "1":
            pytest.fail("the AsyncAPI parser could not be installed (npm, Node.js 20+)")
        pytest.skip("npm is not available to install @asyncapi/parser")
    run = subprocess.run(
        ["node", str(PARSER / "validate.cjs"), str(EVENTS / "asyncapi.json")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NODE_PATH": str(parser / "node_modules")},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert lines[-1]["valid"] is True
    assert not [d for d in lines[:-1] if d.get("severity") in (0, 1)], run.stdout
