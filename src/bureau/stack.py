"""The distributed mode as processes: each service its own process, its own
PostgreSQL database, Kafka between them. Used by the end-to-end tests and the
saga benchmark; `make run-kafka` does the same from the shell."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

SERVICES = ("permit", "quota", "eia", "supervision")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def ensure_database(admin_url: str, name: str) -> str:
    conn = await asyncpg.connect(admin_url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname=$1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


@dataclass
class Stack:
    pg_admin_url: str
    kafka_bootstrap: str
    log_dir: Path
    db_prefix: str = "stack"
    #: The services' JWT secret: the distributed mode refuses the development one.
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    #: Which services to start (all by default; a test may need only some).
    services: tuple[str, ...] = SERVICES
    extra_env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    db_urls: dict[str, str] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    async def start(self, within: float = 90.0) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for svc in self.services:
            self.db_urls[svc] = await ensure_database(self.pg_admin_url, f"{self.db_prefix}_{svc}")
            self.start_service(svc)
        await self.wait_ready(within)

    def start_service(self, svc: str) -> None:
        port = self.ports.get(svc) or free_port()
        self.ports[svc] = port
        env = {
            **os.environ,
            "DATABASE_URL": self.db_urls[svc],
            "EVENT_TRANSPORT": f"kafka://{self.kafka_bootstrap}",
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "LOG_JSON": "true",
            "OUTBOX_SWEEP_SECONDS": "0.5",
            "JWT_SECRET": self.jwt_secret,
            **self.extra_env,
        }
        log = open(self.log_dir / f"{svc}-svc.log", "ab")  # noqa: SIM115 - owned by the child
        self.procs[svc] = subprocess.Popen(
            [sys.executable, "-m", f"{svc}_svc"], env=env, stdout=log, stderr=subprocess.STDOUT
        )

    async def wait_ready(self, within: float) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient() as client:
            for svc in self.services:
                while True:
                    proc = self.procs[svc]
                    if proc.poll() is not None:
                        raise RuntimeError(f"{svc}-svc exited: {self.log_tail(svc)}")
                    try:
                        r = await client.get(f"{self.url(svc)}/{svc}/ready?events=1", timeout=5)
                        if r.status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{svc}-svc not ready: {self.log_tail(svc)}")
                    await asyncio.sleep(0.3)

    def log_tail(self, svc: str, lines: int = 30) -> str:
        path = self.log_dir / f"{svc}-svc.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@dataclass
class EmbeddedServer:
    """`bureau run` as its own process on a free port and a fresh data
    directory: the embedded default as a user starts it (console tests, CLI
    tests). `stop()` ends it."""

    data_dir: Path
    log: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, within: float = 60.0) -> EmbeddedServer:
        env = {**os.environ, "PORT": str(self.port), "DATA_DIR": str(self.data_dir)}
        env.pop("JWT_SECRET", None)  # the embedded default's development secret
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bureau", "run", "--port", str(self.port)],
            env=env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("bureau run exited:\n" + self.log.read_text()[-3000:])
            try:
                if httpx.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError("bureau run not ready:\n" + self.log.read_text()[-3000:])

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
