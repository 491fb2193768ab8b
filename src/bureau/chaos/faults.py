"""The faults, injected one after another while the load runs:

1. a crash between commit and answer: one eia-svc replica runs with the
   crash point `FAULT_CRASH_AFTER_COMMIT=/eia/filings`, so it dies right
   after committing its first filing, before answering (the client retries
   with the same Idempotency-Key on the other replica);
2. kill -9 of a quota-svc replica;
3. PostgreSQL restarted while consumers have a backlog: quota-svc's
   replicas are paused (SIGSTOP) so eia-svc's requests pile up in Kafka,
   PostgreSQL is stopped, the replicas resumed into a database that is not
   there, and PostgreSQL started again;
4. a replica joining mid-load: one more quota-svc replica (its consumer
   group rebalances under load);
5. the broker stopped for `broker_down_seconds`, then started;
6. more kill -9s, round the services (`kills` in all);
7. a rolling deploy: every replica of the services in `roll` replaced, one
   at a time per service, the services side by side (as `kubectl apply` of a
   new version rolls each Deployment): a new replica is started and ready
   first (maxSurge 1, maxUnavailable 0), then the old one is sent SIGTERM.
   The load balancer (the client's rotation) takes it out once its /ready
   answers 503; it must say so while it still accepts, answer what it
   accepted, and exit within `stop_grace_seconds` (then SIGKILL, as the
   orchestrator would). Sagas are under way all along: the load never stops.

A process that dies is started again a second later by a supervisor (as
Kubernetes or systemd would), again and again until it is ready: a replica
restarting while PostgreSQL is down fails its migrations and is restarted.
The plan goes on meanwhile; it waits for every replica only at its end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from bureau.chaos.client import Stats
from bureau.chaos.settings import ChaosSettings
from bureau.stack import Stack, service_of

#: Who is killed, in turn (the first early, the others after the broker outage).
KILL_ROTATION = ("quota-1", "eia-1", "permit-1", "quota-2", "eia-2", "quota-3")
#: How long a supervisor keeps bringing a dead replica back.
RECOVERY_SECONDS = 300.0
#: The write whose commit the crash point follows.
CRASH_PATH = "/eia/filings"


def crash_env(marker: str) -> dict[str, str]:
    """The environment of the replica that dies between commit and answer."""
    return {"FAULT_CRASH_AFTER_COMMIT": CRASH_PATH, "FAULT_MARKER": marker}


@dataclass
class Fault:
    name: str
    target: str
    at_s: float  # since the load started
    #: How long until the target answered again (None: it did not).
    seconds: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class Monkey:
    def __init__(
        self,
        stack: Stack,
        settings: ChaosSettings,
        stats: Stats,
        *,
        kafka_ctl: str,
        pg_ctl: str,
        crash_instance: str | None = None,
        crash_marker: str | None = None,
        settled: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.stack = stack
        #: Waits until the redeliveries the faults before the rolling deploy
        #: caused are counted (in their phases): a kill -9's tail would
        #: otherwise be taken for the graceful stops' (run.handed_over, then
        #: run.Scraper.settled).
        self.settled = settled
        self.settings = settings
        self.stats = stats
        self.kafka_ctl = kafka_ctl
        self.pg_ctl = pg_ctl
        self.crash_instance = crash_instance
        self.crash_marker = crash_marker
        self.faults: list[Fault] = []
        self.t0 = time.monotonic()
        self._recoveries: list[asyncio.Task[None]] = []
        self._step = 0
        #: Replicas being brought back or joining (not serving yet).
        self._recovering: set[str] = set()
        #: /ready of each replica half-way through the broker outage.
        self.ready_during_outage: dict[str, int] = {}
        #: What went wrong in the rolling deploy's graceful stops; the
        #: replicas whose /ready was other than 503 right after SIGTERM.
        self.graceful_problems: list[str] = []
        self.refused_first: dict[str, str] = {}
        #: (instance, its base URL, SIGTERM, exit) of each graceful stop.
        self.stopping: list[tuple[str, str, float, float]] = []

    def _since(self) -> float:
        return round(time.monotonic() - self.t0, 1)

    def _phase(self, name: str) -> None:
        self._step += 1
        self.stats.phase = f"{self._step}. {name}"

    async def _ctl(self, script: str, action: str) -> None:
        # A loaded machine can take the broker minutes to start: the script
        # must not give up on it (and stop it again) before the run does.
        env = {**os.environ, "KAFKA_START_TIMEOUT": str(int(RECOVERY_SECONDS))}

        def run() -> None:
            subprocess.run(
                [script, action],
                check=True,
                capture_output=True,
                timeout=RECOVERY_SECONDS + 60,
                env=env,
            )

        await asyncio.to_thread(run)

    async def gap(self) -> None:
        await asyncio.sleep(self.settings.gap_seconds)

    async def run(self) -> None:
        """The whole plan; returns when the last fault is over and every
        replica answers again."""
        self.t0 = time.monotonic()
        kills = list(KILL_ROTATION[: max(0, self.settings.kills)])
        if self.crash_instance is not None:
            self._recoveries.append(asyncio.create_task(self._crash_after_commit()))
        await self.gap()
        if kills:
            self.kill(kills.pop(0))
            await self.gap()
        await self.pg_restart_with_backlog()
        await self.gap()
        self.join_replica("quota")
        await self.gap()
        await self.broker_outage()
        for name in kills:
            await self.gap()
            if name in self.stack.ports:
                self.kill(name)
        await self.recovered()
        roll = [svc for svc in self.settings.roll.split(",") if svc and self.stack.instances(svc)]
        if roll:
            await self.gap()
            if self.settled is not None:
                await self.settled()
            await self.rolling_deploy(roll)
        self._phase("after the faults")

    async def recovered(self) -> None:
        """Wait for every replica brought back (and the crash point's victim)."""
        if self._recoveries:
            await asyncio.gather(*self._recoveries)

    def kill(self, instance: str) -> None:
        """kill -9; the supervisor starts it again a second later."""
        self._phase(f"kill -9 {instance}")
        fault = Fault("kill -9", instance, self._since())
        self.faults.append(fault)
        started = time.monotonic()
        self.stack.kill(instance)
        self._recoveries.append(asyncio.create_task(self._bring_back(instance, fault, started)))

    async def _bring_back(self, instance: str, fault: Fault, since: float) -> None:
        """Start `instance` again a second after it died, and again whenever
        it dies starting, until it is ready (its database answers, as
        Kubernetes' readiness probe asks) or `RECOVERY_SECONDS` have passed."""
        self._recovering.add(instance)
        try:
            await self._bring_back_until_ready(instance, fault, since)
        finally:
            self._recovering.discard(instance)

    async def _bring_back_until_ready(self, instance: str, fault: Fault, since: float) -> None:
        starts = 0
        deadline = time.monotonic() + RECOVERY_SECONDS
        while time.monotonic() < deadline:
            if not self.stack.alive(instance):
                await asyncio.sleep(1.0)
                self.stack.start_instance(instance)
                starts += 1
            try:
                await self.stack.wait_ready(
                    max(1.0, deadline - time.monotonic()), [instance], events=False
                )
            except (RuntimeError, TimeoutError):
                continue  # died starting (the database was down), or not ready yet
            fault.seconds = round(time.monotonic() - since, 1)
            if starts > 1:
                fault.detail["starts"] = starts
            return
        fault.detail["error"] = f"{instance} not ready after {RECOVERY_SECONDS:.0f} s"

    async def _crash_after_commit(self) -> None:
        instance = self.crash_instance
        assert instance is not None
        proc = self.stack.procs[instance]
        fault = Fault("crash between commit and answer", instance, 0.0)
        fault.detail["path"] = f"POST {CRASH_PATH}"
        self.faults.append(fault)
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(proc.wait, 120)
        if proc.poll() is None:  # no filing reached it: give up the crash
            fault.detail["triggered"] = False
            return
        fault.at_s = self._since()
        fault.detail["triggered"] = True
        await self._bring_back(instance, fault, time.monotonic())

    async def pg_restart_with_backlog(self) -> None:
        self._phase("quota-svc paused")
        at = self._since()
        paused = [i for i in self.stack.instances("quota") if self.stack.alive(i)]
        for i in paused:
            self.stack.pause(i)
        try:
            await asyncio.sleep(self.settings.backlog_seconds)
            backlog = await consumer_lag(self.stack.kafka_bootstrap, "quota-svc", ["eia.events"])
            self._phase("postgresql restart")
            stopped = time.monotonic()
            await self._ctl(self.pg_ctl, "stop")
        finally:
            for i in paused:
                self.stack.resume(i)
        await asyncio.sleep(self.settings.pg_down_seconds)
        await self._ctl(self.pg_ctl, "start")
        await self._pg_answers()
        self.faults.append(
            Fault(
                "postgresql restart with a backlog",
                "postgresql",
                at,
                round(time.monotonic() - stopped, 1),
                {
                    "paused": paused,
                    "paused_s": self.settings.backlog_seconds,
                    "backlog_messages": backlog,
                },
            )
        )

    async def _pg_answers(self, within: float = 30.0) -> None:
        """PostgreSQL is back at the address the services know."""
        deadline = time.monotonic() + within
        while True:
            try:
                conn = await asyncpg.connect(self.stack.pg_admin_url, timeout=3)
                await conn.close()
                return
            except (OSError, asyncpg.PostgresError) as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL is not back at its address: {exc!r}") from exc
                await asyncio.sleep(0.3)

    def join_replica(self, service: str) -> None:
        """One more replica; the plan goes on while it starts and joins."""
        self._phase(f"{service} replica joining")
        fault = Fault("replica joins", "", self._since())
        self.faults.append(fault)
        started = time.monotonic()
        fault.target = self.stack.add_replica(service)

        async def joined() -> None:
            await self._bring_back(fault.target, fault, started)

        self._recoveries.append(asyncio.create_task(joined()))

    async def broker_outage(self) -> None:
        self._phase("broker outage")
        at = self._since()
        await self._ctl(self.kafka_ctl, "stop")
        stopped = time.monotonic()
        await asyncio.sleep(self.settings.broker_down_seconds / 2)
        # The API must stay in service (the outbox keeps what is written):
        # every replica's readiness is its database, not the broker.
        self.ready_during_outage = await self._probe_ready()
        await asyncio.sleep(self.settings.broker_down_seconds / 2)
        await self._ctl(self.kafka_ctl, "start")
        self.faults.append(
            Fault(
                "broker stopped",
                "kafka",
                at,
                round(time.monotonic() - stopped, 1),
                {
                    "stopped_s": self.settings.broker_down_seconds,
                    "ready_replicas_meanwhile": self.ready_during_outage,
                },
            )
        )
        self._phase("broker back")

    async def rolling_deploy(self, services: list[str]) -> None:
        self._phase("rolling deploy")
        await asyncio.gather(*(self._roll(svc) for svc in services))

    async def _roll(self, service: str) -> None:
        for old in [i for i in self.stack.instances(service) if self.stack.alive(i)]:
            fault = Fault("graceful stop (SIGTERM)", old, self._since())
            self.faults.append(fault)
            try:
                await self._replace(old, fault)
            except Exception as exc:  # reported with the fault; the roll goes on
                fault.detail["error"] = repr(exc)[:300]
                self.graceful_problems.append(f"{old}: {exc!r:.300}")

    async def _replace(self, old: str, fault: Fault) -> None:
        service = service_of(old)
        new = self.stack.add_replica(service)
        # Sent nothing before it is ready, as a Service's endpoints.
        self.stack.out_of_rotation.add(new)
        fault.detail["replaced_by"] = new
        await self.stack.wait_ready(RECOVERY_SECONDS, [new], events=False)
        self.stack.out_of_rotation.discard(new)
        fault.detail["sagas_in_flight"] = await self._sagas_in_flight()
        url = self.stack.url(old)
        stopped_at = time.monotonic()
        self.stack.terminate(old)
        # The balancer's readiness probe, every 0.2 s: out of rotation at
        # its first 503. Refused before that, the replica stopped listening
        # while it was still sent requests.
        seen = await self._until_not_ready(old)
        fault.detail["not_ready_after_s"] = round(time.monotonic() - stopped_at, 2)
        self.stack.out_of_rotation.add(old)
        if seen != 503:
            self.refused_first[old] = str(seen)
        proc = self.stack.procs[old]
        try:
            code = await asyncio.to_thread(proc.wait, self.settings.stop_grace_seconds)
        except subprocess.TimeoutExpired:
            self.graceful_problems.append(
                f"{old}: still running {self.settings.stop_grace_seconds:.0f} s after SIGTERM "
                "(killed, as the orchestrator would)"
            )
            code = None
        self.stopping.append((old, url, stopped_at, time.monotonic()))
        fault.seconds = round(time.monotonic() - stopped_at, 1)
        fault.detail["exit"] = code
        if code not in (None, 0, -signal.SIGTERM):
            self.graceful_problems.append(f"{old}: exited {code} after SIGTERM")
        self.stack.retire(old)

    async def _until_not_ready(self, instance: str) -> int | str:
        """/ready of a stopping replica until it is other than 200: its
        status, or why it did not answer."""
        svc = service_of(instance)
        async with httpx.AsyncClient(timeout=2) as c:
            while True:
                try:
                    r = await c.get(f"{self.stack.url(instance)}/{svc}/ready")
                except httpx.HTTPError as exc:
                    return type(exc).__name__
                if r.status_code != 200:
                    return r.status_code
                await asyncio.sleep(0.2)

    async def _sagas_in_flight(self) -> int | None:
        """Filings waiting for their quota (the saga under way) right now."""
        from bureau.chaos.checks import fetch

        try:
            rows = await fetch(
                self.stack.db_urls["eia"],
                "SELECT count(*) AS n FROM filings WHERE quota_status = 'pending'",
            )
        except Exception:
            return None
        return int(rows[0]["n"])

    async def _probe_ready(self) -> dict[str, int]:
        """/ready of every serving replica: {instance: status code}."""
        out: dict[str, int] = {}
        async with httpx.AsyncClient(timeout=10) as c:
            for instance in list(self.stack.ports):
                if not self.stack.alive(instance) or instance in self._recovering:
                    continue
                svc = service_of(instance)
                try:
                    r = await c.get(f"{self.stack.url(instance)}/{svc}/ready")
                    out[instance] = r.status_code
                except httpx.HTTPError:
                    out[instance] = 0
        return out

    async def restore(self) -> None:
        """Undo what an interrupted plan left: resume paused replicas, start
        the broker and PostgreSQL if stopped (starting a running one changes
        nothing), stop bringing replicas back."""
        for t in self._recoveries:
            t.cancel()
        for i in list(self.stack.paused):
            self.stack.resume(i)
        for script in (self.pg_ctl, self.kafka_ctl):
            try:
                await self._ctl(script, "start")
            except Exception as exc:  # reported, never hiding the run's own outcome
                self.faults.append(
                    Fault("could not restart", script, self._since(), None, {"error": repr(exc)})
                )


async def consumer_lag(bootstrap: str, group: str, topics: list[str]) -> int | None:
    """Messages on `topics` not yet committed by `group` (None if unknown)."""
    from bureau.chaos.checks import partitions

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="chaos-lag")
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, client_id="chaos-lag")
    try:
        await admin.start()
        await consumer.start()
        committed = await admin.list_consumer_group_offsets(group)
        ends = await consumer.end_offsets(await partitions(bootstrap, topics))
        return sum(
            max(0, end - (committed[tp].offset if tp in committed else 0))
            for tp, end in ends.items()
        )
    except Exception:
        return None
    finally:
        await consumer.stop()
        await admin.close()
