"""What the services refuse with a 422, the documents say, wherever JSON
Schema can say it: a client (or a fuzzer) checking a body against the
document is not refused for a rule it could not see. Each rule is held to
the check that enforces it, both ways."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

HERE = Path(__file__).resolve().parent


def _documents() -> dict[str, dict[str, Any]]:
    from bureau.embedded import Embedded

    with tempfile.TemporaryDirectory() as data:
        apps = Embedded(Path(data)).apps
        return {prefix.strip("/"): app.openapi() for prefix, app in apps.items()}


DOCS = _documents()


def _validator(service: str, component: str) -> Draft202012Validator:
    doc = DOCS[service]
    schema = {"$ref": f"#/components/schemas/{component}", "components": doc["components"]}
    return Draft202012Validator(schema)


@pytest.mark.parametrize("component", ["TradeIn"])
def test_a_trades_parties_are_documented_as_uscc(component: str) -> None:
    """A trade's seller and buyer are checked as USCCs (GB 32100): the
    document says so, with the code's alphabet, not 18 of any character."""
    validator = _validator("quota", component)
    body = {
        "seller": "91120119000000005Q",
        "buyer": "91120119000000005Q",
        "district": "120119",
        "amount_t": "1",
        "price_cny_per_t": "1",
        "contract_ref": "HT-1",
    }
    assert validator.is_valid(body)
    for party in ("seller", "buyer"):
        assert not validator.is_valid({**body, party: "Ĭ70ĐÞ򽄬·°=ĳ񫢎k­vħ򵘘󳒧"})
        assert not validator.is_valid({**body, party: "91120119000000005q"})
