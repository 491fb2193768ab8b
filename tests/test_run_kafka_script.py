"""`make run-kafka`'s ports (scripts/run-kafka.sh): chosen with PORT_BASE or
one by one, checked before anything starts. `--check` validates and starts
nothing, so these tests need no servers."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "run-kafka.sh"
NAMES = ("permit", "quota", "eia", "supervision", "console")
PORT_VARS = tuple(f"{n.upper()}_PORT" for n in NAMES)


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in (*PORT_VARS, "PORT_BASE", "HOST")}
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **env},
    )


def five_free_ports() -> int:
    """A base with five free ports above it (tried a few times: another
    process may take one meanwhile)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = int(s.getsockname()[1])
        if base + 4 > 65535:
            continue
        free = True
        for port in range(base, base + 5):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    free = False
                    break
        if free:
            return base
    pytest.skip("no five free consecutive ports")


def planned(out: str) -> dict[str, int]:
    pairs = (line.split(": ") for line in out.strip().splitlines())
    return {name: int(port) for name, port in pairs}


def test_the_default_ports_are_the_documented_ones() -> None:
    # Only the argument handling and the plan: the check of 8001-8005 being
    # free depends on the machine, so their plan is read from --help instead.
    r = run("--help")
    assert r.returncode == 0, r.stderr
    assert "permit 8001" in r.stdout and "console 8005" in r.stdout
    assert "PORT_BASE" in r.stdout


def test_port_base_moves_all_five_in_order() -> None:
    base = five_free_ports()
    r = run("--check", PORT_BASE=str(base))
    assert r.returncode == 0, r.stderr
    assert planned(r.stdout) == {n: base + i for i, n in enumerate(NAMES)}


def test_one_port_can_be_set_alone() -> None:
    base = five_free_ports()
    other = five_free_ports()
    r = run("--check", PORT_BASE=str(base), EIA_PORT=str(other))
    assert r.returncode == 0, r.stderr
    assert planned(r.stdout)["eia"] == other and planned(r.stdout)["quota"] == base + 1


def test_a_port_in_use_is_refused_naming_it() -> None:
    base = five_free_ports()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", base + 2))
        holder.listen()
        r = run("--check", PORT_BASE=str(base))
    assert r.returncode == 2
    assert f"{base + 2} (eia)" in r.stderr and "in use" in r.stderr
    assert r.stdout == ""  # nothing planned, nothing started


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"PORT_BASE": "abc"}, "PORT_BASE='abc' is not a port number"),
        ({"PORT_BASE": "65533"}, "ports 1024-65535 only"),
        ({"PORT_BASE": "80"}, "ports 1024-65535 only"),
        ({"QUOTA_PORT": "9x"}, "QUOTA_PORT='9x' is not a port number"),
        ({"PORT_BASE": "9001", "CONSOLE_PORT": "9001"}, "both be on port 9001"),
    ],
)
def test_bad_ports_are_refused_before_anything_starts(env: dict[str, str], says: str) -> None:
    r = run("--check", **env)
    assert r.returncode == 2 and says in r.stderr, r.stderr


def test_an_unknown_argument_is_refused() -> None:
    r = run("--port", "9001")
    assert r.returncode == 2 and "unknown argument '--port'" in r.stderr
