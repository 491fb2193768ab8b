"""The deployment files, checked without Docker, Kubernetes or a network.

No Docker engine runs these files in CI, so they are validated instead:
docker-compose.yml against the compose-spec JSON Schema and against the
rest of the repository (databases, Kafka listener, ports, commands,
settings); every Kubernetes manifest against the API schemas of
kubernetes-validate, plus probes, selectors and the kustomization; the
Dockerfile's essentials; the Kafka topic list against the services' topics and
against create-topics.sh (run with stand-in Kafka tools).
"""

from __future__ import annotations

import base64
import fnmatch
import http.server
import importlib
import importlib.resources
import importlib.util
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from sqlalchemy.engine import make_url
from svc_common import testing

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
PG_INIT = ROOT / "deploy" / "compose" / "postgres-init.sql"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
K8S = ROOT / "deploy" / "k8s"
KUSTOMIZATION = K8S / "kustomization.yaml"
SECRETS_EXAMPLE = K8S / "secrets.example.yaml"
TOPICS = ROOT / "deploy" / "kafka" / "topics.yaml"
CREATE_TOPICS = ROOT / "deploy" / "kafka" / "create-topics.sh"

K8S_VERSION = "1.31.0"
#: compose service / k8s Deployment name -> (module run with `python -m`, host port)
APP_SERVICES = {
    "permit-svc": ("permit_svc", 8001),
    "quota-svc": ("quota_svc", 8002),
    "eia-svc": ("eia_svc", 8003),
    "supervision-svc": ("supervision_svc", 8004),
}
#: The web console: built from the same image, no database, no Kafka.
CONSOLE = ("console", "console", 8005)
#: The services whose APIs the console calls.
CONSOLE_CALLS = ("permit-svc", "quota-svc", "eia-svc")
KAFKA_POM = ROOT / "deploy" / "local" / "kafka" / "pom.xml"


# ---------------------------------------------------------------- helpers


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


#: What an operator exports for a variable compose requires (${VAR:?message}).
OPERATOR_VALUE = "set-by-the-operator-0123456789abcdef"


def interpolate(value: Any) -> str:
    """Compose variable interpolation as with an empty environment:
    ${VAR:-default} and ${VAR-default} give the default, ${VAR} gives '',
    and ${VAR:?message} (required) the value an operator would export."""
    text = re.sub(r"\$\{\w+:?\?[^}]*\}", OPERATOR_VALUE, str(value))
    return re.sub(
        r"\$\{(\w+)(?::?-([^}]*))?\}", lambda m: m.group(2) or "", text.replace("$$", "\0")
    ).replace("\0", "$")


def env_dict(env: Any) -> dict[str, str]:
    """A compose `environment:` (map or list of KEY=VALUE) as a dict."""
    if env is None:
        return {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def port_pairs(ports: list[Any]) -> list[tuple[int, int]]:
    """(host port, container port) of a compose `ports:` list, short or long syntax."""
    pairs = []
    for p in ports:
        if isinstance(p, dict):
            pairs.append((int(p["published"]), int(p["target"])))
            continue
        parts = str(p).split("/")[0].split(":")
        assert len(parts) >= 2, f"port {p!r} publishes no fixed host port"
        pairs.append((int(parts[-2]), int(parts[-1])))
    return pairs


def module_of(command: Any) -> str:
    """The module of a `python -m <module>` command (list or string form)."""
    argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    assert len(argv) == 3 and argv[0] in ("python", "python3") and argv[1] == "-m", (
        f"expected `python -m <module>`, got {argv}"
    )
    return argv[2]


def assert_runnable_module(module: str) -> None:
    assert importlib.util.find_spec(module) is not None, f"no module {module}"
    assert importlib.util.find_spec(f"{module}.__main__") is not None, (
        f"`python -m {module}` needs {module}/__main__.py"
    )


def settings_class(module: str) -> Any:
    return importlib.import_module(f"{module}.settings").Settings


def assert_known_settings(module: str, env: dict[str, str], where: str) -> None:
    """Every env var given to a service is one of its settings, and the values parse."""
    cls = settings_class(module)
    fields = set(cls.model_fields)
    unknown = sorted(k for k in env if k.lower() not in fields)
    assert not unknown, f"{where}: {module} has no settings {unknown} (typo?)"
    cls(**{k.lower(): v for k, v in env.items()})


def compose() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(COMPOSE)
    return data


def app_services() -> dict[str, dict[str, Any]]:
    """The three services (built from the root, each with its database)."""
    return {
        name: svc
        for name, svc in compose()["services"].items()
        if "build" in svc and name != CONSOLE[0]
    }


def service_deployments() -> list[dict[str, Any]]:
    return [d for d in of_kind("Deployment") if d["metadata"]["name"] != CONSOLE[0]]


def pg_init() -> tuple[dict[str, str], dict[str, str]]:
    """(role -> password, database -> owner) created by the postgres init script."""
    sql = PG_INIT.read_text(encoding="utf-8")
    roles = dict(re.findall(r"CREATE ROLE (\w+) (?:WITH )?LOGIN PASSWORD '([^']*)'", sql, re.I))
    dbs = dict(re.findall(r"CREATE DATABASE (\w+) OWNER (\w+)", sql, re.I))
    return roles, dbs


def k8s_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p != KUSTOMIZATION)


def k8s_docs(*, include_example: bool = False) -> list[dict[str, Any]]:
    return [
        doc
        for path in k8s_files()
        if include_example or path != SECRETS_EXAMPLE
        for doc in load_yaml_docs(path)
    ]


def of_kind(kind: str, docs: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    return [d for d in (docs if docs is not None else k8s_docs()) if d["kind"] == kind]


def container_port(container: dict[str, Any], port: int | str) -> int:
    """A probe's or Service's target port resolved against the container's ports."""
    ports = container.get("ports", [])
    if isinstance(port, int):
        assert port in [p["containerPort"] for p in ports], f"port {port} not declared"
        return port
    named = [p["containerPort"] for p in ports if p.get("name") == port]
    assert named, f"no container port named {port!r}"
    return int(named[0])


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with comments dropped and continuations joined."""
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        if buf.strip():
            word, _, rest = buf.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
        buf = ""
    return out


@pytest.fixture
def ready_server() -> Iterator[tuple[int, list[int]]]:
    """A local stand-in for a service's /ready: (port, [status to answer])."""
    status = [200]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code = status[0] if self.path == "/ready" else 404
            self.send_response(code)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], status
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- compose


def test_compose_validates_against_the_compose_spec() -> None:
    ref = importlib.resources.files("check_jsonschema.builtin_schemas.vendor").joinpath(
        "compose-spec.json"
    )
    schema = json.loads(ref.read_text(encoding="utf-8"))
    validator_cls = jsonschema.validators.validator_for(schema)
    assert validator_cls is jsonschema.Draft202012Validator  # what its $schema declares
    validator_cls.check_schema(schema)
    errors = sorted(
        validator_cls(schema).iter_errors(compose()), key=lambda e: list(e.absolute_path)
    )
    assert not errors, "\n".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors
    )


def test_compose_depends_on_targets_exist_and_are_healthchecked() -> None:
    services = compose()["services"]
    for name, svc in services.items():
        deps = svc.get("depends_on", {})
        targets = deps if isinstance(deps, list) else list(deps)
        for target in targets:
            assert target in services, f"{name} depends on unknown service {target}"
            assert target != name
            if isinstance(deps, dict) and deps[target].get("condition") == "service_healthy":
                assert "healthcheck" in services[target], (
                    f"{name} waits for {target} to be healthy, but {target} has no healthcheck"
                )


def test_compose_app_services_are_the_four_services_and_wait_for_their_backends() -> None:
    apps = app_services()
    assert set(apps) == set(APP_SERVICES)
    for name, svc in apps.items():
        assert svc["build"] in (".", {"context": "."}), f"{name} is not built from the root"
        deps = svc["depends_on"]
        assert isinstance(deps, dict)
        for backend in ("kafka", "postgres"):
            assert deps[backend]["condition"] == "service_healthy", f"{name} -> {backend}"
        assert svc.get("restart") == "unless-stopped"


def test_compose_database_urls_point_at_databases_the_init_script_creates() -> None:
    services = compose()["services"]
    roles, dbs = pg_init()
    assert set(dbs) == {"permit", "quota", "eia", "supervision"}
    postgres = services["postgres"]
    assert str(postgres["image"]).startswith("postgres:16")
    mounts = [str(v) for v in postgres.get("volumes", [])]
    assert any(
        m.split(":")[0]
        in ("./deploy/compose/postgres-init.sql", "deploy/compose/postgres-init.sql")
        and m.split(":")[1].startswith("/docker-entrypoint-initdb.d/")
        for m in mounts
    ), f"postgres does not run the init script: {mounts}"

    used = set()
    for name, svc in app_services().items():
        url = make_url(interpolate(env_dict(svc["environment"])["DATABASE_URL"]))
        assert url.drivername == "postgresql+asyncpg", name
        assert url.host == "postgres" and (url.port or 5432) == 5432, name
        assert url.database in dbs, f"{name}: database {url.database} is never created"
        assert url.username == dbs[url.database], (
            f"{name}: connects as {url.username}, but {url.database} is owned by "
            f"{dbs[url.database]}"
        )
        assert roles.get(url.username) == url.password, f"{name}: password of {url.username}"
        used.add(url.database)
    assert len(used) == len(APP_SERVICES), "services must not share a database"


def test_compose_event_transport_is_the_kafka_internal_listener() -> None:
    services = compose()["services"]
    kafka = services["kafka"]
    assert kafka["image"] == "apache/kafka:4.4.0"  # as the tests (deploy/local/kafka)
    env = {k: interpolate(v) for k, v in env_dict(kafka["environment"]).items()}
    kafka_host = kafka.get("hostname", "kafka")
    assert kafka_host == "kafka"

    # KRaft, one combined node.
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    listeners = dict(
        (item.split("://")[0], int(item.rsplit(":", 1)[1]))
        for item in env["KAFKA_LISTENERS"].split(",")
    )
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == (
        f"{env['KAFKA_NODE_ID']}@{kafka_host}:{listeners[controller]}"
    )
    for key in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
    ):
        assert env[key] == "1", key
    assert len(base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")) == 16, "CLUSTER_ID: not a UUID"
    protocols = dict(
        item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    assert set(listeners) <= set(protocols)

    # The listener advertised under the service's own name is the internal one.
    advertised = {
        item.split("://")[0]: item.split("://")[1]
        for item in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    }
    internal = [n for n, addr in advertised.items() if addr.split(":")[0] == kafka_host]
    assert len(internal) == 1, f"no single listener advertised as {kafka_host}: {advertised}"
    internal_addr = advertised[internal[0]]
    assert internal[0] != controller
    assert int(internal_addr.rsplit(":", 1)[1]) == listeners[internal[0]]

    for name, svc in app_services().items():
        transport = interpolate(env_dict(svc["environment"])["EVENT_TRANSPORT"])
        assert transport == f"kafka://{internal_addr}", f"{name}: {transport}"


def test_compose_host_ports_are_8001_to_8004_and_distinct() -> None:
    services = compose()["services"]
    host_ports = [h for svc in services.values() for h, _ in port_pairs(svc.get("ports", []))]
    assert len(host_ports) == len(set(host_ports)), f"host port used twice: {host_ports}"
    for name, (_, host_port) in APP_SERVICES.items():
        svc = services[name]
        container = int(env_dict(svc["environment"])["PORT"])
        assert port_pairs(svc["ports"]) == [(host_port, container)], name


def test_compose_commands_are_importable_service_modules() -> None:
    for name, svc in app_services().items():
        module = module_of(svc["command"])
        assert module == APP_SERVICES[name][0], name
        assert_runnable_module(module)


def test_compose_service_env_is_settings_the_services_read() -> None:
    for name, svc in app_services().items():
        env = {k: interpolate(v) for k, v in env_dict(svc["environment"]).items()}
        assert env["HOST"] == "0.0.0.0", f"{name} would listen on loopback only"
        jwt = str(env_dict(svc["environment"])["JWT_SECRET"])
        # Required from the operator: the distributed mode refuses the
        # development secret, so compose must not default to it.
        assert re.fullmatch(r"\$\{JWT_SECRET:\?.+\}", jwt), f"{name}: JWT_SECRET not required"
        assert_known_settings(APP_SERVICES[name][0], env, f"compose {name}")


def test_compose_healthcheck_calls_ready_on_the_service_port(
    ready_server: tuple[int, list[int]],
) -> None:
    port, status = ready_server
    for name, svc in app_services().items():
        test = svc["healthcheck"]["test"]
        assert test[0] == "CMD" and test[1:3] == ["python", "-c"], f"{name}: {test}"
        code = test[3]
        container = env_dict(svc["environment"])["PORT"]
        url = f"http://127.0.0.1:{container}/ready"
        assert url in code, f"{name}: healthcheck does not call {url}"
        # Run the one-liner against a stand-in: healthy on 200, unhealthy on 503.
        local = code.replace(url, f"http://127.0.0.1:{port}/ready")
        for answer, healthy in ((200, True), (503, False)):
            status[0] = answer
            rc = subprocess.run([sys.executable, "-c", local], capture_output=True).returncode
            assert (rc == 0) is healthy, f"{name}: /ready {answer} gave exit code {rc}"


# ---------------------------------------------------------------- Dockerfile


def test_dockerfile_builds_from_the_lock_as_a_non_root_user() -> None:
    instr = dockerfile_instructions()
    args = {
        m.group(1): m.group(2)
        for kind, rest in instr
        if kind == "ARG"
        for m in [re.match(r"(\w+)=(\S+)", rest)]
        if m
    }
    froms = [
        re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], rest) for k, rest in instr if k == "FROM"
    ]
    assert len(froms) >= 2, "expected a multi-stage build"
    assert all(f.split()[0] == "python:3.11-slim" for f in froms), froms

    runs = [rest for kind, rest in instr if kind == "RUN"]
    assert any(re.search(r"pip install .*uv==0\.13\.8", r) for r in runs) or (
        args.get("UV_VERSION") == "0.13.8" and any("uv==${UV_VERSION}" in r for r in runs)
    ), "uv 0.13.8 is not installed with pip"
    syncs = [r for r in runs if "uv sync" in r]
    assert syncs, "no `uv sync`"
    for r in syncs:
        assert "--frozen" in r.split() and "--no-dev" in r.split(), r

    copies = [rest for kind, rest in instr if kind == "COPY" and "--from=" not in rest]
    copied = [src for c in copies for src in c.split()[:-1] if not src.startswith("--")]
    assert "uv.lock" in copied and "pyproject.toml" in copied, copied
    # Everything `uv sync` needs: the workspace members and the root package's src/.
    members = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"][
        "members"
    ]
    for member in members:
        assert any(member.startswith(src.rstrip("/")) for src in copied), f"{member} not copied"
    assert any(src.rstrip("/") == "src" for src in copied), "src/ (the bureau CLI) not copied"

    users = [rest for kind, rest in instr if kind == "USER"]
    assert users, "no USER: the image would run as root"
    assert users[-1].split(":")[0] not in ("root", "0"), users[-1]

    envs = " ".join(rest for kind, rest in instr if kind == "ENV")
    assert re.search(r"PATH=/app/\.venv/bin:\$PATH", envs), "the venv is not on PATH"
    cmd = [rest for kind, rest in instr if kind == "CMD"][-1]
    argv = json.loads(cmd)
    assert argv[:2] == ["bureau", "run"] and "0.0.0.0" in argv, argv
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert argv[0] in scripts


def test_dockerignore_keeps_local_state_out_but_the_sources_in() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        return any(
            fnmatch.fnmatch(path, p) or path.startswith(p.rstrip("/") + "/") for p in patterns
        )

    for path in (".venv", ".git", "data", ".local", ".pytest_cache", ".mypy_cache"):
        assert ignored(path), f"{path} is sent to the build"
    for path in ("pyproject.toml", "uv.lock", "libs/common/pyproject.toml", "src/bureau/cli.py"):
        assert not ignored(path), f"{path} is needed by the build but ignored"
    for main in ROOT.glob("services/*/src/*/__main__.py"):
        assert not ignored(str(main.relative_to(ROOT))), main


def test_every_service_command_in_compose_and_k8s_is_a_runnable_module() -> None:
    commands = [svc["command"] for svc in app_services().values()]
    commands += [
        c["command"]
        for d in service_deployments()
        for c in d["spec"]["template"]["spec"]["containers"]
    ]
    assert len(commands) == 2 * len(APP_SERVICES)
    for command in commands:
        assert_runnable_module(module_of(command))


# ---------------------------------------------------------------- Kubernetes


@pytest.mark.parametrize("path", k8s_files(), ids=lambda p: p.name)
def test_k8s_manifest_validates_against_the_api_schema(path: Path) -> None:
    docs = load_yaml_docs(path)
    assert docs, f"{path.name} is empty"
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            where = ".".join(map(str, e.path))
            pytest.fail(
                f"{path.name} {doc['kind']}/{doc['metadata']['name']}: {where}: {e.message}"
            )


def test_kustomization_lists_every_manifest_but_the_example_secret() -> None:
    kust = load_yaml(KUSTOMIZATION)
    assert kust["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kust["kind"] == "Kustomization"
    listed = list(kust["resources"])
    assert len(listed) == len(set(listed))
    expected = {p.name for p in k8s_files()} - {SECRETS_EXAMPLE.name}
    assert set(listed) == expected
    assert SECRETS_EXAMPLE.name not in listed
    namespaces = of_kind("Namespace")
    assert [n["metadata"]["name"] for n in namespaces] == ["envbureau"]
    assert kust["namespace"] == "envbureau"
    for doc in k8s_docs(include_example=True):
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == "envbureau", doc["metadata"]["name"]


def test_k8s_deployments_probe_ready_and_health_on_the_container_port() -> None:
    deployments = service_deployments()
    assert {d["metadata"]["name"] for d in deployments} == set(APP_SERVICES)
    for d in deployments:
        name = d["metadata"]["name"]
        assert d["spec"]["replicas"] == 2, name
        (container,) = d["spec"]["template"]["spec"]["containers"]
        assert container["image"] == "envbureau:0.1.0", name
        assert module_of(container["command"]) == APP_SERVICES[name][0], name
        env = {e["name"]: e for e in container.get("env", [])}
        served = int(env["PORT"]["value"])
        assert env["HOST"]["value"] == "0.0.0.0", name
        for probe, path in (("readinessProbe", "/ready"), ("livenessProbe", "/health")):
            get = container[probe]["httpGet"]
            assert get["path"] == path, f"{name} {probe}"
            assert container_port(container, get["port"]) == served, f"{name} {probe} port"
        if "startupProbe" in container:
            get = container["startupProbe"]["httpGet"]
            assert container_port(container, get["port"]) == served


def test_k8s_deployments_are_locked_down_and_sized() -> None:
    uid = [rest for kind, rest in dockerfile_instructions() if kind == "USER"][-1].split(":")[0]
    for d in of_kind("Deployment"):
        name = d["metadata"]["name"]
        pod = d["spec"]["template"]["spec"]
        assert (
            d["spec"]["selector"]["matchLabels"].items()
            <= d["spec"]["template"]["metadata"]["labels"].items()
        ), name
        psc = pod.get("securityContext", {})
        for c in pod["containers"]:
            csc = c.get("securityContext", {})
            assert csc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, name
            run_as = csc.get("runAsUser", psc.get("runAsUser"))
            assert run_as is None or str(run_as) == uid, f"{name}: uid {run_as}, image has {uid}"
            assert csc.get("readOnlyRootFilesystem") is True, name
            assert csc.get("allowPrivilegeEscalation") is False, name
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][kind]), f"{name} {kind}"


def test_k8s_env_comes_from_the_configmap_and_a_secret_per_service() -> None:
    configmaps = {c["metadata"]["name"]: c["data"] for c in of_kind("ConfigMap")}
    example = {
        s["metadata"]["name"]: s["stringData"]
        for s in of_kind("Secret", load_yaml_docs(SECRETS_EXAMPLE))
    }
    assert not of_kind("Secret"), "real secrets do not belong in the kustomization"
    for d in service_deployments():
        name = d["metadata"]["name"]
        (container,) = d["spec"]["template"]["spec"]["containers"]
        env: dict[str, str] = {}
        for source in container.get("envFrom", []):
            cm = source["configMapRef"]["name"]
            assert cm in configmaps, f"{name}: no ConfigMap {cm}"
            env.update(configmaps[cm])
        for key in ("EVENT_TRANSPORT", "LOG_LEVEL", "JWT_JWKS_URL", "KAFKA_TOPIC_PARTITIONS"):
            assert key in env, f"{name}: {key} not set"
        assert env["EVENT_TRANSPORT"].startswith("kafka://")
        secret_refs = {}
        for e in container.get("env", []):
            if "value" in e:
                env[e["name"]] = e["value"]
            elif "secretKeyRef" in e["valueFrom"]:
                ref = e["valueFrom"]["secretKeyRef"]
                secret_refs[e["name"]] = ref["name"]
                assert ref["name"] in example, f"{name}: secret {ref['name']} has no example"
                env[e["name"]] = example[ref["name"]][ref["key"]]
            else:
                env[e["name"]] = "from-the-downward-api"
        assert secret_refs.get("DATABASE_URL") == f"{name}-db", name
        # Tokens by JWT_JWKS_URL leave no JWT_SECRET: the cursors' own key.
        assert secret_refs.get("CURSOR_SECRET") == "envbureau-cursor", name
        assert_known_settings(APP_SERVICES[name][0], env, f"k8s {name}")
    db_urls = [make_url(s["DATABASE_URL"]) for s in example.values() if "DATABASE_URL" in s]
    assert len({u.database for u in db_urls}) == len(APP_SERVICES)
    assert all(u.password == "CHANGE-ME" for u in db_urls), "no real passwords in the example"


def test_k8s_services_pdbs_and_hpas_target_the_deployments() -> None:
    deployments = {d["metadata"]["name"]: d for d in of_kind("Deployment")}
    services = {s["metadata"]["name"]: s for s in of_kind("Service")}
    pdbs = {p["metadata"]["name"]: p for p in of_kind("PodDisruptionBudget")}
    hpas = {h["metadata"]["name"]: h for h in of_kind("HorizontalPodAutoscaler")}
    assert set(services) == set(pdbs) == set(hpas) == set(deployments)
    for name, d in deployments.items():
        labels = d["spec"]["template"]["metadata"]["labels"]
        (container,) = d["spec"]["template"]["spec"]["containers"]

        svc = services[name]["spec"]
        assert svc.get("type", "ClusterIP") == "ClusterIP"
        assert svc["selector"] and svc["selector"].items() <= labels.items(), f"{name}: selector"
        (port,) = svc["ports"]
        assert port["port"] == 80
        assert container_port(container, port["targetPort"]) == 8000, name

        pdb = pdbs[name]["spec"]
        assert pdb["minAvailable"] == 1
        assert pdb["selector"]["matchLabels"].items() <= labels.items(), f"{name}: PDB selector"

        hpa = hpas[name]
        assert hpa["apiVersion"] == "autoscaling/v2"
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", name)
        assert hpa["spec"]["minReplicas"] >= pdb["minAvailable"] + 1, f"{name}: PDB blocks drains"
        metrics = hpa["spec"]["metrics"]
        assert any(m["type"] == "Resource" and m["resource"]["name"] == "cpu" for m in metrics)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_kustomize_build_renders_every_resource() -> None:
    out = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    rendered = [d for d in yaml.safe_load_all(out.stdout) if d]
    assert len(rendered) == len(k8s_docs())
    for doc in rendered:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


# ---------------------------------------------------------------- Kafka topics


def topics() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = load_yaml(TOPICS)["topics"]
    return data


def test_topics_are_the_services_topics_and_their_dead_letter_twins() -> None:
    from svc_common.events.schemas import eia, permit, quota, supervision
    from svc_common.transports.base import DLQ_SUFFIX

    main = {permit.TOPIC, quota.TOPIC, eia.TOPIC, supervision.TOPIC}
    assert main == {"permit.events", "quota.events", "eia.events", "supervision.events"}
    by_name = {t["name"]: t for t in topics()}
    assert set(by_name) == main | {t + DLQ_SUFFIX for t in main}
    partitions = {t["partitions"] for n, t in by_name.items() if n in main}
    assert partitions == {6}
    for name, t in by_name.items():
        config = t["config"]
        assert t["replication_factor"] == 3, name
        assert config["min.insync.replicas"] == 2, name
        assert config["cleanup.policy"] == "delete", name
        if name.endswith(DLQ_SUFFIX):
            main_retention = by_name[name.removesuffix(DLQ_SUFFIX)]["config"]["retention.ms"]
            assert config["retention.ms"] >= main_retention, name
    assert by_name["permit.events"]["config"]["retention.ms"] == 30 * 86_400_000

    # The services' fallback partition count, and the largest useful replica count.
    (cm,) = of_kind("ConfigMap")
    assert int(cm["data"]["KAFKA_TOPIC_PARTITIONS"]) == 6
    for hpa in of_kind("HorizontalPodAutoscaler"):
        assert hpa["spec"]["maxReplicas"] <= 6, "more consumers than partitions sit idle"


def test_create_topics_script_creates_exactly_topics_yaml_idempotently(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    stub = (
        "#!/usr/bin/env python3\n"
        "import json, os, sys\n"
        "with open(os.environ['STUB_LOG'], 'a') as f:\n"
        "    f.write(json.dumps([os.path.basename(sys.argv[0])] + sys.argv[1:]) + '\\n')\n"
    )
    for tool in ("kafka-topics.sh", "kafka-configs.sh"):
        (tmp_path / tool).write_text(stub.replace("python3", Path(sys.executable).as_posix(), 1))
        (tmp_path / tool).chmod(0o755)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "KAFKA_BIN": str(tmp_path),
        "STUB_LOG": str(log),
        "BOOTSTRAP": "broker-1:9092",
    }
    run = subprocess.run(
        ["bash", str(CREATE_TOPICS)], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    calls = [json.loads(line) for line in log.read_text().splitlines()]

    creates = {}
    for call in calls:
        assert call[1:3] == ["--bootstrap-server", "broker-1:9092"], call
        if call[0] == "kafka-topics.sh" and "--create" in call:
            assert "--if-not-exists" in call, f"not idempotent: {call}"
            opts: dict[str, Any] = {"config": {}}
            for flag, value in itertools.pairwise(call[3:]):
                if flag == "--config":
                    k, v = value.split("=", 1)
                    opts["config"][k] = v
                elif flag.startswith("--"):
                    opts[flag] = value
            creates[opts["--topic"]] = opts
    assert set(creates) == {t["name"] for t in topics()}
    for t in topics():
        got = creates[t["name"]]
        assert int(got["--partitions"]) == t["partitions"], t["name"]
        assert int(got["--replication-factor"]) == t["replication_factor"], t["name"]
        assert got["config"] == {k: str(v) for k, v in t["config"].items()}, t["name"]

    # A replication factor below min.insync.replicas is refused, not created.
    log.unlink()
    run = subprocess.run(
        ["bash", str(CREATE_TOPICS)],
        env={**env, "REPLICATION_FACTOR": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0 and not log.exists()


def test_every_shell_script_passes_shellcheck() -> None:
    """The deployment and developer scripts, at warning level (its "info"
    notes misread functions run only by a trap)."""
    scripts = sorted([*ROOT.glob("scripts/*.sh"), *ROOT.glob("deploy/**/*.sh"), ROOT / ".ci/run"])
    assert CREATE_TOPICS in scripts
    run = subprocess.run(
        [testing.tool("shellcheck"), "-S", "warning", *map(str, scripts)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout


# ---------------------------------------------------------------- the console


def test_compose_kafka_is_the_version_the_tests_run() -> None:
    tested = re.search(r"<kafka.version>([^<]+)</kafka.version>", KAFKA_POM.read_text())
    assert tested
    image = compose()["services"]["kafka"]["image"]
    assert image == f"apache/kafka:{tested.group(1)}"


def test_compose_console_calls_the_services_and_waits_for_them(
    ready_server: tuple[int, list[int]],
) -> None:
    name, module, host_port = CONSOLE
    services = compose()["services"]
    svc = services[name]
    assert svc["build"] in (".", {"context": "."})
    assert module_of(svc["command"]) == module
    assert_runnable_module(module)
    assert svc["depends_on"] == {s: {"condition": "service_healthy"} for s in APP_SERVICES}
    raw = env_dict(svc["environment"])
    env = {k: interpolate(v) for k, v in raw.items()}
    assert env["HOST"] == "0.0.0.0"
    for key in ("SESSION_SECRET", "JWT_SECRET"):
        assert re.fullmatch(rf"\$\{{{key}:\?.+\}}", raw[key]), f"console: {key} not required"
    assert port_pairs(svc["ports"]) == [(host_port, int(env["PORT"]))]
    for service in CONSOLE_CALLS:
        short = service.removesuffix("-svc")
        port = env_dict(services[service]["environment"])["PORT"]
        assert env[f"{short.upper()}_URL"] == f"http://{service}:{port}", service
    assert_known_settings(module, env, "compose console")
    test = svc["healthcheck"]["test"]
    assert f"http://127.0.0.1:{env['PORT']}/ready" in test[3]
    # The receipts eia-svc prints point at the console's public address.
    eia_env = env_dict(services["eia-svc"]["environment"])
    assert interpolate(eia_env["PUBLIC_URL"]) == env["PUBLIC_URL"]


def test_k8s_console_calls_the_services_through_their_service_objects() -> None:
    name, module, _ = CONSOLE
    (d,) = [d for d in of_kind("Deployment") if d["metadata"]["name"] == name]
    (container,) = d["spec"]["template"]["spec"]["containers"]
    assert module_of(container["command"]) == module
    services = {s["metadata"]["name"] for s in of_kind("Service")}
    examples = {
        s["metadata"]["name"]: s["stringData"]
        for s in of_kind("Secret", load_yaml_docs(SECRETS_EXAMPLE))
    }
    env: dict[str, str] = {}
    for e in container["env"]:
        if "value" in e:
            env[e["name"]] = e["value"]
        else:
            ref = e["valueFrom"]["secretKeyRef"]
            env[e["name"]] = examples[ref["name"]][ref["key"]]
    assert "DEV_LOGIN" not in env, "production signs in with OpenID Connect"
    for service in CONSOLE_CALLS:
        url = env[f"{service.removesuffix('-svc').upper()}_URL"]
        assert url == f"http://{service}" and service in services
    assert env["OIDC_ISSUER"] == load_yaml_docs(K8S / "configmap.yaml")[0]["data"]["JWT_ISSUER"]
    assert_known_settings(module, env, "k8s console")
    for probe, path in (("readinessProbe", "/ready"), ("livenessProbe", "/health")):
        assert container[probe]["httpGet"]["path"] == path


def _seconds(duration: str) -> float:
    """A compose duration ("90s", "1m30s") in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def test_grace_periods_outlast_the_longest_graceful_stop() -> None:
    """SIGTERM stops a replica in steps bounded by its SHUTDOWN_* settings
    (docs/operations.md, "Stopping a replica"); the orchestrator must not
    kill it before they are over (docker's default, 10 s, did). The console
    stops the same way, without consumers or a relay to wait for."""
    from svc_common.graceful import longest_stop_seconds

    served = {**app_services(), CONSOLE[0]: compose()["services"][CONSOLE[0]]}
    for name, svc in served.items():
        module = module_of(svc["command"])
        env = {k: interpolate(v) for k, v in env_dict(svc.get("environment")).items()}
        settings = settings_class(module)(**{k.lower(): v for k, v in env.items()})
        grace = _seconds(str(svc.get("stop_grace_period", "10s")))
        assert grace >= longest_stop_seconds(settings), f"compose {name}: {grace} s"
    configmaps = {c["metadata"]["name"]: c["data"] for c in of_kind("ConfigMap")}
    modules = {name: module for name, (module, _) in APP_SERVICES.items()}
    modules[CONSOLE[0]] = CONSOLE[1]
    for d in of_kind("Deployment"):
        name = d["metadata"]["name"]
        pod = d["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        env: dict[str, str] = {}
        for source in container.get("envFrom", []):
            env.update(configmaps[source["configMapRef"]["name"]])
        env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
        shutdown = {k: v for k, v in env.items() if k.startswith("SHUTDOWN_")}
        settings = settings_class(modules[name])(**{k.lower(): v for k, v in shutdown.items()})
        command = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command")
        pre_stop = float(command[1]) if command and command[0] == "sleep" else 0.0
        grace = pod.get("terminationGracePeriodSeconds", 30)
        assert grace >= pre_stop + longest_stop_seconds(settings), f"k8s {name}: {grace} s"
