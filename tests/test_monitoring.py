"""deploy/monitoring: the Prometheus alert rules and the Grafana dashboard.

Their structure is checked, and every metric their expressions name is one
the services really export: each service is started (SQLite, in-process
events) and its /metrics scraped at the path the Kubernetes scrape
annotations give. Where promtool is installed the rules are also parsed by
Prometheus itself and their unit tests (prometheus-rules.test.yaml) run.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from eia_svc.app import create as create_eia
from eia_svc.settings import Settings as EiaSettings
from permit_svc.app import create as create_permit
from permit_svc.settings import Settings as PermitSettings
from prometheus_client.parser import text_string_to_metric_families
from quota_svc.app import create as create_quota
from quota_svc.settings import Settings as QuotaSettings
from supervision_svc.app import create as create_supervision
from supervision_svc.settings import Settings as SupervisionSettings
from svc_common import testing

from bureau.embedded import Embedded

ROOT = Path(__file__).resolve().parents[1]
MONITORING = ROOT / "deploy" / "monitoring"
RULES = MONITORING / "prometheus-rules.yaml"
RULE_TESTS = MONITORING / "prometheus-rules.test.yaml"
DASHBOARD = MONITORING / "grafana-dashboard.json"
OPERATIONS = ROOT / "docs" / "operations.md"
K8S = ROOT / "deploy" / "k8s"

#: Series Prometheus makes itself, not the services.
PROMETHEUS_OWN = {"up", "scrape_duration_seconds"}
_KEYWORDS = {
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
}
_FACTORIES = {
    "permit-svc": (create_permit, PermitSettings),
    "quota-svc": (create_quota, QuotaSettings),
    "eia-svc": (create_eia, EiaSettings),
    "supervision-svc": (create_supervision, SupervisionSettings),
}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords,
    labels, grouping clauses, durations and strings left out)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w.$])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?", e):
        name, call = m.group(1), m.group(2)
        if call or name.lower() in _KEYWORDS:
            continue
        names.add(name)
    return names


def test_metric_names_parser() -> None:
    assert metric_names(
        'sum by (service, le) (rate(http_request_duration_seconds_bucket{service=~"$service"}[5m]))'
    ) == {"http_request_duration_seconds_bucket"}
    assert metric_names(
        'db_pool_connections{state="in_use"} / ignoring (state) db_pool_capacity > 0.9'
    ) == {"db_pool_connections", "db_pool_capacity"}
    assert metric_names("min_over_time((sum by (a) (x_total))[15m:1m]) > 0 or vector(0)") == {
        "x_total"
    }


def _exported(text: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names |= {family.name + s for s in ("_bucket", "_sum", "_count")}
        names |= {s.name for s in family.samples}
    return names


def _deployment(service: str) -> dict[str, Any]:
    for doc in yaml.safe_load_all((K8S / f"{service}.yaml").read_text()):
        if doc and doc.get("kind") == "Deployment":
            return dict(doc)
    raise AssertionError(f"no Deployment in {service}.yaml")


@pytest.fixture(scope="module")
async def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """Each service's metric names, scraped where its Deployment says. The
    services run on SQLite and in-process events here; the Kafka transport's
    own figures are declared as in a deployment, where it is loaded."""
    import svc_common.transports.kafka  # noqa: F401 - registers its figures

    out: dict[str, set[str]] = {}
    for service, (create, settings_cls) in _FACTORIES.items():
        annotations = _deployment(service)["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        container = _deployment(service)["spec"]["template"]["spec"]["containers"][0]
        ports = {str(p["containerPort"]) for p in container["ports"]}
        assert annotations["prometheus.io/port"] in ports
        db = tmp_path_factory.mktemp(service) / "db.sqlite"
        app = create(settings_cls(database_url=f"sqlite+aiosqlite:///{db}", log_json=False))
        async with testing.running(app) as c:
            await app.state.metrics_refresher.refresh()
            await c.get(f"/{service.removesuffix('-svc')}/health")
            r = await c.get(annotations["prometheus.io/path"])
            assert r.status_code == 200, r.text
            labels = {
                s.labels.get("service")
                for fam in text_string_to_metric_families(r.text)
                for s in fam.samples
            }
            assert labels - {None} == {service}, "a service's /metrics shows its own series"
            out[service] = _exported(r.text)
            out[service + ":sampled"] = {
                s.name for fam in text_string_to_metric_families(r.text) for s in fam.samples
            }
    return out


def _rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    assert set(doc) == {"groups"}
    rules = []
    for group in doc["groups"]:
        assert set(group) == {"name", "rules"} and group["rules"]
        rules += group["rules"]
    return rules


def _dashboard_exprs(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def test_alert_rules_are_well_formed() -> None:
    rules = _rules()
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names))
    headings = {
        re.sub(r"[^a-z0-9-]", "", h.strip().lower().replace(" ", "-"))
        for h in re.findall(r"^#+ (.+)$", OPERATIONS.read_text(), flags=re.M)
    }
    for r in rules:
        assert set(r) <= {"alert", "expr", "for", "labels", "annotations"}, r
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", r["alert"])
        assert isinstance(r["expr"], str) and r["expr"].strip()
        if "for" in r:
            assert re.fullmatch(r"\d+[smh]", r["for"]), r["for"]
        assert r["labels"]["severity"] in {"critical", "warning", "info"}
        assert r["annotations"]["summary"]
        runbook = r["annotations"]["runbook"]
        assert runbook.startswith("docs/operations.md#")
        assert runbook.split("#", 1)[1] in headings, f"{r['alert']}: no section {runbook}"


def test_alert_rules_name_only_exported_metrics(exported: dict[str, set[str]]) -> None:
    known = set().union(*exported.values()) | PROMETHEUS_OWN
    for r in _rules():
        names = metric_names(r["expr"])
        assert names, r["alert"]
        assert names <= known, f"{r['alert']}: {names - known} is exported by no service"


def test_business_figures_come_from_their_service(exported: dict[str, set[str]]) -> None:
    assert "quota_ledger_mismatched_pools" in exported["quota-svc:sampled"]
    assert "eia_quota_pending_oldest_age_seconds" in exported["eia-svc:sampled"]
    for other in ("eia-svc", "permit-svc", "supervision-svc"):
        assert not {n for n in exported[f"{other}:sampled"] if n.startswith("quota_")}
    for service in _FACTORIES:
        assert {"outbox_backlog_rows", "dead_letters", "events_consumer_lag_messages"} <= exported[
            service
        ]


def test_dashboard_is_well_formed_and_names_exported_metrics(
    exported: dict[str, set[str]],
) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and isinstance(dashboard["schemaVersion"], int)
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "service", "district"} <= variables
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for p in dashboard["panels"]:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24 and g["h"] > 0
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not mine & cells, f"panel {p['title']!r} overlaps another"
        cells |= mine
        if p["type"] == "row":
            continue
        assert p["type"] in {"timeseries", "stat", "table", "gauge", "bargauge"}
        assert p["datasource"]["uid"] == "${datasource}"
        refs = [t["refId"] for t in p["targets"]]
        assert refs and len(refs) == len(set(refs))
    known = set().union(*exported.values())
    for title, expr in _dashboard_exprs(dashboard):
        names = metric_names(expr)
        assert names and names <= known, f"{title}: {names - known} is exported by no service"
        for var in re.findall(r"\$(\w+)", expr):
            assert var in variables, f"{title}: ${var} is not a dashboard variable"


def test_promtool_checks_and_unit_tests_the_rules() -> None:
    promtool = testing.tool("promtool")
    check = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    tests = subprocess.run(
        [promtool, "test", "rules", RULE_TESTS.name],
        cwd=MONITORING,
        capture_output=True,
        text=True,
        check=False,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr


async def test_embedded_metrics_root_shows_every_service(tmp_path: Path) -> None:
    embedded = Embedded(tmp_path, log_json=False)
    async with (
        embedded.lifespan(),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=embedded), base_url="http://testserver"
        ) as c,
    ):
        for app in embedded.apps.values():
            await app.state.metrics_refresher.refresh()
        every = {
            s.labels.get("service")
            for fam in text_string_to_metric_families((await c.get("/metrics")).text)
            for s in fam.samples
        }
        assert {"permit-svc", "quota-svc", "eia-svc", "supervision-svc"} <= every
        for prefix, service in (("/quota", "quota-svc"), ("/eia", "eia-svc")):
            own = {
                s.labels.get("service")
                for fam in text_string_to_metric_families((await c.get(f"{prefix}/metrics")).text)
                for s in fam.samples
            }
            assert own - {None} == {service}
