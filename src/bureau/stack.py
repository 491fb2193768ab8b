"""The distributed mode as processes: each service its own process (or
several replicas of it, each its own process on the service's one
PostgreSQL database), Kafka between them. Used by the end-to-end tests, the
saga benchmark and the chaos suite; `make run-kafka` does the same from the
shell.

A replica is an *instance* named `<service>-<n>` ("quota-1", "quota-2"); a
service name where an instance is expected means its first replica. The
chaos suite kills (SIGKILL), pauses (SIGSTOP), resumes and restarts
instances, and adds replicas while the others serve."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from bureau.services import SERVICES as SERVICES


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


def service_of(instance: str) -> str:
    """ "quota-2" → "quota"; a service name is its own service."""
    return instance.rsplit("-", 1)[0] if instance.rsplit("-", 1)[-1].isdigit() else instance


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
    #: Replicas per service at start (default one each).
    replicas: dict[str, int] = field(default_factory=dict)
    #: Extra environment of some instances at start (not on a restart).
    instance_env: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Instance name → port (kept across restarts) and running process.
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    db_urls: dict[str, str] = field(default_factory=dict)
    #: Instances stopped with SIGSTOP (resumed before any other signal).
    paused: set[str] = field(default_factory=set)
    #: Instances a load balancer sends nothing more (stopping: `urls` leaves
    #: them out), and instances replaced for good (`retire`).
    out_of_rotation: set[str] = field(default_factory=set)
    retired: list[str] = field(default_factory=list)

    def instances(self, service: str) -> list[str]:
        """The service's instances, running or not, in the order they were added."""
        return [i for i in self.ports if service_of(i) == service]

    def _instance(self, name: str) -> str:
        if name in self.ports:
            return name
        found = self.instances(name)
        if not found:
            raise KeyError(name)
        return found[0]

    def url(self, name: str) -> str:
        """The base URL of an instance (or of a service's first replica)."""
        return f"http://127.0.0.1:{self.ports[self._instance(name)]}"

    def urls(self, service: str) -> list[str]:
        """Where a balancer sends the service's requests: its instances in rotation."""
        serving = [i for i in self.instances(service) if i not in self.out_of_rotation]
        return [f"http://127.0.0.1:{self.ports[i]}" for i in serving or self.instances(service)]

    async def start(self, within: float = 90.0) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for svc in self.services:
            self.db_urls[svc] = await ensure_database(self.pg_admin_url, f"{self.db_prefix}_{svc}")
            for n in range(1, max(1, self.replicas.get(svc, 1)) + 1):
                name = f"{svc}-{n}"
                self.start_instance(name, self.instance_env.get(name))
        await self.wait_ready(within)

    def start_service(self, svc: str) -> None:
        """Start (or restart) a service's first replica."""
        self.start_instance(self._instance(svc) if self.instances(svc) else f"{svc}-1")

    def start_instance(self, instance: str, env: dict[str, str] | None = None) -> None:
        """Start `instance` (again, on the same port, after a kill)."""
        svc = service_of(instance)
        port = self.ports.get(instance) or free_port()
        self.ports[instance] = port
        full_env = {
            **os.environ,
            "DATABASE_URL": self.db_urls[svc],
            "EVENT_TRANSPORT": f"kafka://{self.kafka_bootstrap}",
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "LOG_JSON": "true",
            "OUTBOX_SWEEP_SECONDS": "0.5",
            "KAFKA_CLIENT_ID": f"{svc}-svc-{instance.rsplit('-', 1)[-1]}",
            "JWT_SECRET": self.jwt_secret,
            **self.extra_env,
            **(env or {}),
        }
        log = open(self.log_path(instance), "ab")  # noqa: SIM115 - owned by the child
        self.paused.discard(instance)
        self.procs[instance] = subprocess.Popen(
            [sys.executable, "-m", f"{svc}_svc"], env=full_env, stdout=log, stderr=subprocess.STDOUT
        )

    def add_replica(self, svc: str, env: dict[str, str] | None = None) -> str:
        """Start one more replica of `svc`; returns its instance name."""
        taken = [
            int(i.rsplit("-", 1)[1])
            for i in [*self.instances(svc), *self.retired]
            if service_of(i) == svc
        ]
        instance = f"{svc}-{max(taken, default=0) + 1}"
        self.start_instance(instance, env)
        return instance

    def alive(self, name: str) -> bool:
        proc = self.procs.get(self._instance(name))
        return proc is not None and proc.poll() is None

    def pid(self, name: str) -> int | None:
        proc = self.procs.get(self._instance(name))
        return proc.pid if proc is not None and proc.poll() is None else None

    def kill(self, name: str) -> None:
        """kill -9: no shutdown, no flush, no offset commit."""
        instance = self._instance(name)
        proc = self.procs[instance]
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        self.paused.discard(instance)

    def terminate(self, name: str) -> None:
        """SIGTERM, as Kubernetes or docker compose stop a container: the
        process stops gracefully, in its own time."""
        instance = self._instance(name)
        if instance in self.paused:
            self.resume(instance)
        self.procs[instance].terminate()

    def retire(self, name: str) -> None:
        """Forget a stopped instance (replaced by another): no request, probe
        or check goes to it any more. Its log stays."""
        instance = self._instance(name)
        self.retired.append(instance)
        self.out_of_rotation.discard(instance)
        self.paused.discard(instance)
        del self.ports[instance]
        proc = self.procs.pop(instance, None)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def pause(self, name: str) -> None:
        """SIGSTOP: the process holds its connections and answers nothing."""
        instance = self._instance(name)
        self.procs[instance].send_signal(signal.SIGSTOP)
        self.paused.add(instance)

    def resume(self, name: str) -> None:
        instance = self._instance(name)
        self.procs[instance].send_signal(signal.SIGCONT)
        self.paused.discard(instance)

    async def wait_ready(
        self, within: float, names: list[str] | None = None, *, events: bool = True
    ) -> None:
        """Wait for instances to be ready: their database answers and, with
        `events`, the broker too (Kubernetes' readiness is the former)."""
        deadline = time.monotonic() + within
        probe = "ready?events=1" if events else "ready"
        async with httpx.AsyncClient() as client:
            for instance in names or list(self.ports):
                svc = service_of(instance)
                while True:
                    proc = self.procs[instance]
                    if proc.poll() is not None:
                        raise RuntimeError(f"{instance} exited: {self.log_tail(instance)}")
                    try:
                        r = await client.get(f"{self.url(instance)}/{svc}/{probe}", timeout=5)
                        if r.status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{instance} not ready: {self.log_tail(instance)}")
                    await asyncio.sleep(0.3)

    def log_path(self, name: str) -> Path:
        """An instance's log: `<svc>-svc.log` for the first replica (as with
        one process per service), `<svc>-svc-<n>.log` for the others."""
        instance = self._instance(name)
        n = instance.rsplit("-", 1)[-1]
        suffix = "" if n == "1" else f"-{n}"
        return self.log_dir / f"{service_of(instance)}-svc{suffix}.log"

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.log_path(name)
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        for instance in list(self.paused):
            self.resume(instance)  # a stopped process would not see SIGTERM
        for proc in self.procs.values():
            if proc.poll() is None:
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
