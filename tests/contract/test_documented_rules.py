"""What the services refuse with a 422, the documents say, wherever JSON
Schema can say it: a client (or a fuzzer) checking a body against the
document is not refused for a rule it could not see. Each rule is held to
the check that enforces it, both ways."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import ValidationError
from supervision_svc.grading.rules import LEVELS, TIERS, missing_rules
from supervision_svc.inspections.schemas import PlanIn

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


def _row(level: str, tier: str) -> dict[str, Any]:
    return {"level": level, "tier": tier, "measure": {"kind": "none"}}


PAIRS = [(lv, t) for t in TIERS for lv in LEVELS]


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.sampled_from(PAIRS), min_size=1, max_size=len(PAIRS)))
def test_the_emergency_table_is_documented_as_the_check_reads_it(
    rows: list[tuple[str, str]],
) -> None:
    """One rule per alert level and tier (service.set_policy: none missing,
    none twice): the document admits a table exactly when the check does."""
    table = [_row(lv, t) for lv, t in rows]
    body = {"effective_from": "2027-01-01", "rules": table}
    documented = _validator("supervision", "PolicyIn").is_valid(body)
    checked = not missing_rules(table) and len(set(rows)) == len(rows)
    assert documented == checked


@pytest.mark.parametrize(
    "rows",
    [
        PAIRS,
        list(reversed(PAIRS)),
        PAIRS[:-1],
        [*PAIRS[:-1], PAIRS[0]],
        [PAIRS[0]],
    ],
    ids=["whole", "any-order", "one-missing", "one-twice", "one-row"],
)
def test_the_emergency_table_examples(rows: list[tuple[str, str]]) -> None:
    table = [_row(lv, t) for lv, t in rows]
    body = {"effective_from": "2027-01-01", "rules": table}
    documented = _validator("supervision", "PolicyIn").is_valid(body)
    assert documented == (len(rows) == len(PAIRS) and set(rows) == set(PAIRS))


@pytest.mark.parametrize(
    ("pool", "accepted"),
    [([], True), (["张三"], False), (["张三", "李四"], True), (["张三", "李四", "王五"], True)],
)
def test_an_inspector_pool_of_one_is_documented_as_refused(pool: list[str], accepted: bool) -> None:
    body = {"district": "120119", "period": "2026", "count": 1, "inspector_pool": pool}
    assert _validator("supervision", "PlanIn").is_valid(body) is accepted
    try:
        PlanIn.model_validate(body)
        checked = True
    except ValidationError:
        checked = False
    assert checked is accepted


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


def _effective_from_examples() -> list[tuple[str, str]]:
    found = []
    for name, schema in DOCS["quota"]["components"]["schemas"].items():
        prop = schema.get("properties", {}).get("effective_from")
        if prop is None or not name.endswith("In"):
            continue
        for option in prop.get("anyOf", [prop]):
            if option.get("format") == "date-time":
                found += [(name, e) for e in option.get("examples", [])]
    return found


def test_a_settings_start_is_exemplified_by_a_time_it_takes() -> None:
    """A district setting starts now or later (policy.rules.start_problem):
    the document's example of its start is one the API takes, not a past
    instant every client trying it gets a 422 for."""
    examples = _effective_from_examples()
    assert {name for name, _ in examples} >= {"PolicyIn", "AirQualityIn"}
    now = dt.datetime.now(dt.UTC)
    for name, example in examples:
        assert dt.datetime.fromisoformat(example) > now + dt.timedelta(days=365), name


_CHILD = r"""
import datetime as dt, json
import st_hooks
now = dt.datetime.now(dt.UTC)
body = {"status": "attained", "effective_from": "2000-01-01T00:00:00Z"}
st_hooks._consistent(body)
assert dt.datetime.fromisoformat(body["effective_from"]) > now, body
later = (now + dt.timedelta(days=3)).isoformat()
body = {"status": "attained", "effective_from": later}
st_hooks._consistent(body)
assert body["effective_from"] == later, body
from zoneinfo import ZoneInfo
today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
table = {"effective_from": "2000-01-01", "rules": []}
st_hooks._consistent(table)
assert dt.date.fromisoformat(table["effective_from"]) > today, table
table = {"effective_from": "2099-01-01", "rules": []}
st_hooks._consistent(table)
assert table["effective_from"] == "2099-01-01", table
print("ok")
"""


def test_the_fuzzers_settings_start_now_or_later() -> None:
    """The hooks make a generated setting start now or later, as a client
    would (no schema can say "not in the past"); a day (the emergency
    table's) before today in Beijing becomes a later one, a later one is
    left as drawn. In a child: the hooks patch hypothesis."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    out = subprocess.run(
        [sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


@pytest.mark.parametrize(
    ("service", "path", "method", "tolerated"),
    [
        ("quota", "/quota/settings/{district}/{pollutant}", "PUT", True),
        ("supervision", "/supervision/emergency-policy", "PUT", False),
        ("supervision", "/supervision/cases", "POST", True),
        # The details it already has: only a registration that exists says
        # (reached by `fuzz.py --demo`, which gives the fuzzer real ids).
        ("permit", "/permit/registrations/{registration_id}/change", "POST", True),
        # A district must be one of the alert's: only the alert says which.
        ("supervision", "/supervision/alerts/{alert_id}/measures", "GET", True),
        ("supervision", "/supervision/alerts/{alert_id}/measures.csv", "GET", True),
        ("supervision", "/supervision/alerts", "GET", False),
    ],
)
def test_only_rules_no_schema_states_are_tolerated_as_422(
    service: str, path: str, method: str, tolerated: bool
) -> None:
    """schemathesis.toml lets a schema-valid request be refused with a 422
    only where the rule depends on records or the clock: supervision's
    setPolicy (the emergency table, stated in full by its document) shares
    its operationId with quota's, and is held to every check."""
    import schemathesis
    from schemathesis.config import SchemathesisConfig

    config = SchemathesisConfig.from_path(str(HERE / "schemathesis.toml"))
    schema = schemathesis.openapi.from_dict(DOCS[service], config=config)
    operation = schema[path][method]
    checks = schema.config.operations.get_for_operation(operation).checks
    assert ("422" in checks.positive_data_acceptance.expected_statuses) is tolerated
