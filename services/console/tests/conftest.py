"""Console test fixtures: the embedded default as a real server process with
the demonstration data loaded through its API (once per session), and the
console app alone in-process for the cookie and sign-in tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[3]
#: Where the browser tests leave their screenshots (CI keeps them).
ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR", ROOT / ".local" / "test-artifacts"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`bureau run` in its own process, on a free port and a fresh data dir."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PORT": str(self.port), "DATA_DIR": str(data_dir)}
        env.pop("JWT_SECRET", None)  # the embedded default's development secret
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bureau", "run", "--port", str(self.port)],
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("bureau run exited:\n" + self.log.read_text()[-3000:])
            try:
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError("bureau run not ready:\n" + self.log.read_text()[-3000:])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The embedded default with the demonstration data (宝坻区 scaled down to
    keep the session short: the pages and actions are the same)."""
    from bureau.client import Api
    from bureau.demo import Demo

    base = tmp_path_factory.mktemp("console-demo")
    server = Server(base / "data", base / "server.log")
    try:
        server.wait_ready()
        api = Api(server.url)
        try:
            Demo(api, baodi_permits=40, baodi_registrations=200, say=lambda _: None).run()
        finally:
            api.close()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    path = ARTIFACTS / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path
