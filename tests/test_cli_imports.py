"""The command line loads only what a command needs: `bureau --help`,
`bureau token` and the parsing of every command's options do not import
the web framework, the database toolkit, the holiday calendar nor the
services' packages (each cost seconds on every command)."""

from __future__ import annotations

import json
import subprocess
import sys

#: What only serving, the database or a service's own code needs.
HEAVY = ("fastapi", "starlette", "sqlalchemy", "holidays")
SERVICES = ("permit_svc", "quota_svc", "eia_svc", "supervision_svc")

_PROBE = """
import json, sys
{setup}
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}})))
"""


def _loaded(setup: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(setup=setup)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_importing_the_cli_loads_no_server_side() -> None:
    loaded = _loaded("import bureau.cli")
    assert sorted(loaded & {*HEAVY, *SERVICES}) == []


def test_help_and_token_load_no_server_side() -> None:
    # Typer parses the options (and prints the help) inside the process:
    # what it loads for that is what every command pays before it starts.
    for args in (["--help"], ["token", "--role", "admin"], ["export", "--help"]):
        setup = (
            "from bureau.cli import app\n"
            "try:\n"
            f"    app({args!r}, standalone_mode=False)\n"
            "except SystemExit:\n"
            "    pass\n"
        )
        loaded = _loaded(setup)
        assert sorted(loaded & {*HEAVY, *SERVICES}) == [], args
