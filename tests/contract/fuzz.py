"""Run schemathesis against every service of the embedded default.

Starts `bureau run` on a free loopback port with a fresh data directory, then
runs `st run` on each service's OpenAPI document with every check and every
phase (examples, coverage, fuzzing, stateful), the hooks in st_hooks.py and
the settings in schemathesis.toml beside this file; stops the server whatever
happens. `make test` runs it small (tests/contract/test_schemathesis.py);
`make fuzz` runs it at full size:

    .venv/bin/python tests/contract/fuzz.py --max-examples 400 --out fuzz-report

The web console (`/console`) serves pages and forms, not an API: it has no
document of its own, so the harness builds one from its routes (FastAPI's
generated OpenAPI) and runs the same phases with one check, no server error
(5xx) whatever a browser sends, signed in as a development user of each role
(st_hooks.py) with the session's CSRF token.

With `--demo` the server is loaded with the demonstration data first
(`bureau demo`), and the fuzzing phase is given the ids of its records for
the path parameters that name one (`DEMO_RECORDS`: a filing, a permit, a
reservation…), half the time (schemathesis's parameter dictionaries, in a
copy of schemathesis.toml written to the output directory): on an empty
server every such operation answers 404 and its own logic is never run.

Prints one line of figures per service and exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SERVICES = ("permit", "quota", "eia", "supervision", "console")
#: Checks per service: every check on the APIs; the console's pages answer
#: HTML for people, so only "never a server error" applies to them.
CHECKS = {"console": "not_a_server_error"}
VENV_BIN = ROOT / ".venv" / "bin"


@dataclass
class Figures:
    service: str
    #: Operations in the service's document, and how many of them were called.
    documented: int = 0
    operations: int = 0
    max_examples: int = 0
    cases: int = 0
    failures: int = 0
    errors: int = 0
    seconds: float = 0.0
    exit_code: int = 0
    phases: dict[str, int] = field(default_factory=dict)
    failure_kinds: dict[str, int] = field(default_factory=dict)


#: Parameters that name a record, and where the demonstration data's records
#: are listed: (the parameter as schemathesis's config names it, the list,
#: the field of each item holding the value, `a.b` through a list at `a`;
#: how many, if not `DEMO_IDS_PER_PARAMETER`; a parameter may take two
#: lists' ids). A receipt's number and its
#: check code are drawn apart: two of each, so that they match often.
DEMO_RECORDS: tuple[tuple[str, str, str, int | None], ...] = (
    ("path.filing_id", "/eia/filings", "id", None),
    ("path.rid", "/eia/registrations", "id", None),
    # and those sampled for a post-hoc check, which only may be cleared
    ("path.rid", "/eia/review-queue", "id", 5),
    ("path.filing_no", "/eia/registrations", "filing_no", 2),
    ("query.code", "/eia/registrations", "check_code", 2),
    ("path.permit_id", "/permit/permits", "id", None),
    ("path.registration_id", "/permit/registrations", "id", None),
    ("path.uscc", "/permit/enterprises", "uscc", None),
    ("path.audit_id", "/permit/audits", "id", None),
    ("path.finding_id", "/permit/audits", "findings.id", None),
    ("path.reservation_id", "/quota/reservations", "id", None),
    ("path.reclaim_id", "/quota/reclaims", "id", None),
    ("path.lot_id", "/quota/lots", "id", None),
)
#: How often the fuzzing phase uses a demonstration record's id where one
#: fits; the other cases keep generated ids (the 404 and 422 paths).
DEMO_PROBABILITY = 0.5
#: Ids per parameter: the first page of its list.
DEMO_IDS_PER_PARAMETER = 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def embedded_server(data_dir: Path, log: Path) -> Iterator[str]:
    """The embedded default on a free loopback port; yields its base URL."""
    port = _free_port()
    env = {**os.environ, "PORT": str(port), "DATA_DIR": str(data_dir), "LOG_LEVEL": "warning"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(VENV_BIN / "bureau"), "run", "--port", str(port), "--data-dir", str(data_dir)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the server exited: see {log}")
                try:
                    with urllib.request.urlopen(base + "/ready", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not become ready: see {log}")
                time.sleep(0.3)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _values(item: object, field_path: str) -> list[str | int]:
    head, _, rest = field_path.partition(".")
    value = item.get(head) if isinstance(item, dict) else None
    if rest:
        return [v for sub in value or [] for v in _values(sub, rest)]
    return [value] if isinstance(value, str | int) else []


def load_demo(base: str, log: Path) -> dict[str, list[str | int]]:
    """Load the demonstration data into the server at `base` and return the
    ids of its records by parameter (`DEMO_RECORDS`), read with an admin's
    development token."""
    from svc_common.auth import mint_token
    from svc_common.settings import DEV_JWT_SECRET

    with log.open("ab") as out:
        subprocess.run(
            [str(VENV_BIN / "bureau"), "demo", "--api", base],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            check=True,
        )
    token = mint_token(DEV_JWT_SECRET, sub="admin.fuzz", role="admin", districts=[])
    pages: dict[str, list[object]] = {}
    ids: dict[str, list[str | int]] = {}
    for parameter, path, field_path, count in DEMO_RECORDS:
        if path not in pages:
            url = f"{base}{path}?limit={DEMO_IDS_PER_PARAMETER}"
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(request, timeout=30) as r:
                pages[path] = json.load(r)["items"]
        found = [v for item in pages[path] for v in _values(item, field_path)]
        found = found[: count or DEMO_IDS_PER_PARAMETER]
        if found:  # a parameter listed twice takes the ids of both lists
            ids[parameter] = list(dict.fromkeys([*ids.get(parameter, []), *found]))
    return ids


def demo_config(ids: dict[str, list[str | int]], out: Path) -> Path:
    """schemathesis.toml with a dictionary of the records' ids for each
    parameter, bound to it with `DEMO_PROBABILITY`; written to `out`."""
    lines = [(HERE / "schemathesis.toml").read_text(), "", "# Added by fuzz.py --demo."]
    bindings = []
    for parameter, values in ids.items():
        name = parameter.replace(".", "_")
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values, ensure_ascii=False)}"]
        bindings.append(
            f"{json.dumps(parameter)} = {{ dictionary = {json.dumps(name)}, "
            f"probability = {DEMO_PROBABILITY} }}"
        )
    lines += ["", "[parameters]", *bindings, ""]
    path = out / "schemathesis.demo.toml"
    path.write_text("\n".join(lines))
    return path


_SUMMARY = re.compile(r"(\d+) generated")


def _figures(service: str, ndjson: Path, exit_code: int, seconds: float) -> Figures:
    """Figures from schemathesis's NDJSON event stream: cases by phase, and
    distinct failures (operation, check code, first line) by kind."""
    fig = Figures(service=service, exit_code=exit_code, seconds=round(seconds, 1))
    operations: set[str] = set()
    distinct: set[tuple[str, str, str]] = set()
    if not ndjson.exists():
        return fig
    for line in ndjson.read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        for kind, body in event.items():
            if kind == "ScenarioFinished" and isinstance(body, dict):
                phase = str(body.get("phase", "?"))
                recorder = body.get("recorder") or {}
                n = len(recorder.get("cases") or {})
                fig.cases += n
                fig.phases[phase] = fig.phases.get(phase, 0) + n
                if recorder.get("label"):
                    operations.add(str(recorder["label"]))
                for checks in (recorder.get("checks") or {}).values():
                    for check in checks:
                        if check.get("status") != "failure":
                            continue
                        info = (check.get("failure_info") or {}).get("failure") or {}
                        key = (
                            str(info.get("operation")),
                            str(info.get("code")),
                            str(info.get("message", "")).split("\n")[0],
                        )
                        if key not in distinct:
                            distinct.add(key)
                            name = f"{info.get('code')} {info.get('title')}"
                            fig.failure_kinds[name] = fig.failure_kinds.get(name, 0) + 1
            elif kind == "NonFatalError":
                fig.errors += 1
    fig.failures = len(distinct)
    fig.operations = len(operations - {"Stateful tests"})
    return fig


_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def documented_operations(document: str) -> int:
    """How many operations a document (a URL or a file) declares."""
    if document.startswith("http"):
        with urllib.request.urlopen(document, timeout=30) as r:
            doc = json.load(r)
    else:
        doc = json.loads(Path(document).read_text())
    return sum(1 for item in doc["paths"].values() for m in item if m in _METHODS)


def console_document(out: Path) -> Path:
    """The console's routes as an OpenAPI document (it serves none itself)."""
    from console.app import create

    path = out / "console.openapi.json"
    path.write_text(json.dumps(create().openapi(), ensure_ascii=False))
    return path


def run_service(
    base: str,
    service: str,
    *,
    max_examples: int,
    cases: int | None = None,
    max_time: int | None,
    out: Path,
    seed: int | None,
    workers: int,
    phases: str,
    config: Path = HERE / "schemathesis.toml",
) -> Figures:
    out.mkdir(parents=True, exist_ok=True)
    ndjson = out / f"{service}.ndjson"
    document = (
        str(console_document(out)) if service == "console" else f"{base}/{service}/openapi.json"
    )
    documented = documented_operations(document)
    if cases:
        # About one fuzzed case per example and operation (fewer where an
        # operation has few inputs, and the other phases add more): aim a
        # tenth above the target. The console's pages count as operations.
        max_examples = max(max_examples, -(-cases * 11 // (10 * documented)))
    cmd = [
        str(VENV_BIN / "st"),
        "--config-file",
        str(config),
        "run",
        document,
        "--url",
        base,
        "--checks",
        CHECKS.get(service, "all"),
        "--phases",
        phases,
        "--max-examples",
        str(max_examples),
        "--workers",
        str(workers),
        "--report",
        "ndjson,junit",
        "--report-ndjson-path",
        str(ndjson),
        "--report-junit-path",
        str(out / f"{service}.junit.xml"),
        "--continue-on-failure",
        "--no-color",
    ]
    if max_time:
        # The console's pages are few: a third of the budget.
        cmd += ["--max-time", str(max_time if service != "console" else max(60, max_time // 3))]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "st_hooks",
        "BUREAU_FUZZ_BASE": base,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    start = time.monotonic()
    with (out / f"{service}.txt").open("wb") as log:
        code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    fig = _figures(service, ndjson, code, time.monotonic() - start)
    fig.documented = documented
    fig.max_examples = max_examples
    return fig


def run(
    services: tuple[str, ...] = SERVICES,
    *,
    max_examples: int = 20,
    cases: int | None = None,
    max_time: int | None = None,
    out: Path,
    seed: int | None = None,
    workers: int = 1,
    phases: str = "examples,coverage,fuzzing,stateful",
    lanes: int = 2,
    demo: bool = False,
) -> list[Figures]:
    """Run the services' schemathesis sessions against one embedded server,
    `lanes` at a time (two keep both cores of the CI machine busy: while one
    session generates, the server answers the other); with `demo`, a server
    loaded with the demonstration data, whose records' ids the fuzzing
    phase is given (`load_demo`, `demo_config`)."""
    out.mkdir(parents=True, exist_ok=True)
    # Longest first, so the lanes finish together.
    order = sorted(services, key=lambda s: _LENGTH.index(s) if s in _LENGTH else len(_LENGTH))
    with (
        tempfile.TemporaryDirectory(prefix="bureau-fuzz-") as data,
        embedded_server(Path(data), out / "server.log") as base,
        ThreadPoolExecutor(max_workers=max(1, lanes)) as pool,
    ):
        config = HERE / "schemathesis.toml"
        if demo:
            config = demo_config(load_demo(base, out / "server.log"), out)
        futures = {
            s: pool.submit(
                run_service,
                base,
                s,
                max_examples=max_examples,
                cases=cases,
                max_time=max_time,
                out=out,
                seed=seed,
                workers=workers,
                phases=phases,
                config=config,
            )
            for s in order
        }
        return [futures[s].result() for s in services]


#: The services by how long their sessions take (most operations first).
_LENGTH = ("quota", "supervision", "permit", "eia", "console")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--services", default=",".join(SERVICES))
    p.add_argument("--max-examples", type=int, default=20)
    p.add_argument(
        "--cases-per-service",
        type=int,
        default=None,
        help="raise each API service's examples per operation to reach about this many cases",
    )
    p.add_argument("--max-time", type=int, default=None, help="seconds per service")
    p.add_argument(
        "--minutes",
        type=float,
        default=None,
        help="a time budget per API service instead of a size (the console gets a third): "
        "fuzzing and stateful sequences repeat until it is spent",
    )
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--phases", default="examples,coverage,fuzzing,stateful")
    p.add_argument("--lanes", type=int, default=2, help="services fuzzed at the same time")
    p.add_argument("--out", type=Path, default=Path("fuzz-report"))
    p.add_argument(
        "--demo",
        action="store_true",
        help="load the demonstration data first and give the fuzzing phase its records' ids "
        "for the path parameters that name a record (half the time)",
    )
    args = p.parse_args()
    started = time.monotonic()
    if args.minutes:
        args.max_time = int(args.minutes * 60)
        args.cases_per_service = None
        # Short rounds over every operation, repeated until the time is
        # spent: a long round cut by the clock would leave operations out.
        args.max_examples = min(args.max_examples, 50)
    figures = run(
        tuple(args.services.split(",")),
        max_examples=args.max_examples,
        cases=args.cases_per_service,
        max_time=args.max_time,
        out=args.out,
        seed=args.seed,
        workers=args.workers,
        phases=args.phases,
        lanes=args.lanes,
        demo=args.demo,
    )
    for f in figures:
        print(json.dumps(asdict(f), ensure_ascii=False))
    summary = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "max_examples": args.max_examples,
        "cases_per_service": args.cases_per_service,
        "minutes_per_service": args.minutes,
        "seed": args.seed,
        "lanes": args.lanes,
        "demo": args.demo,
        "wall_seconds": round(time.monotonic() - started, 1),
        "cases": sum(f.cases for f in figures),
        "failures": sum(f.failures for f in figures),
        "services": [asdict(f) for f in figures],
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "services"}))
    (args.out / "figures.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return 0 if all(f.exit_code == 0 and f.failures == 0 for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
