"""The simulated world: one seeded scheduler, one frozen clock, the three
services, the broker, the faults, and the trace of everything that happened.

The scheduler pops the earliest event, sets the clock to its time and runs
it to completion; now and then (a busy moment) it runs the events due in the
next seconds together, and they interleave at every database call in an
order drawn from the seed. Nothing runs on a timer of its own: relays,
consumers and sweepers are events too."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import heapq
import json
import math
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from svc_common import clock, retention
from svc_common.events.envelope import Message
from svc_common.service import Periodic

from bureau_sim import inline_sqlite
from bureau_sim.broker import Broker, Group, TopicPartition
from bureau_sim.config import DAY, SimConfig
from bureau_sim.faults import SimCrash, crash_in
from bureau_sim.nodes import Node
from bureau_sim.readers import Reader

#: 2026-01-01 00:00 in Beijing: the city-year starts here.
START = dt.datetime(2025, 12, 31, 16, 0, tzinfo=dt.UTC)


def _as_utc(value: Any) -> dt.datetime | None:
    """A timestamp as the harness reads it: SQLite text or a PostgreSQL value."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


@dataclass(order=True)
class _Event:
    at: float
    seq: int
    label: str = field(compare=False)
    run: Callable[[], Awaitable[None]] = field(compare=False)


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class Violation:
    invariant: str
    detail: str
    step: int
    at: float

    def __str__(self) -> str:
        day = self.at / DAY
        return f"[step {self.step}, day {day:.2f}] {self.invariant}: {self.detail}"


class Sim:
    def __init__(self, seed: int, cfg: SimConfig) -> None:
        self.seed = seed
        self.cfg = cfg
        root = random.Random(seed)
        # Separate streams, so a change in one (say, the faults) does not
        # shift what the others draw.
        self.wrng = random.Random(root.getrandbits(64))  # the workload
        self.frng = random.Random(root.getrandbits(64))  # the faults
        self.yrng = random.Random(root.getrandbits(64))  # interleavings
        self.idrng = random.Random(root.getrandbits(64))  # ids in the services
        self.clock = clock.ManualClock(START)
        self.now = 0.0
        self.step = 0
        self._queue: list[_Event] = []
        self._seq = 0
        self._trace = hashlib.sha256()
        self.trace_lines = 0
        self.trace_kept: list[str] | None = None
        self.nodes: dict[str, Node] = {}
        self.broker = Broker(self, cfg.partitions)
        self.stats: Counter[str] = Counter()
        self.violations: list[Violation] = []
        #: Simulated time after which no new fault starts.
        self.faults_end = cfg.days * DAY
        self.settling = False
        self._interleaving = 0
        self.on_step: Callable[[], Awaitable[None]] | None = None
        self.readers: dict[str, Reader] = {}
        self.stop_on_violation = cfg.stop_at_first

    # --- time and events ---------------------------------------------------------
    @property
    def at_time(self) -> dt.datetime:
        return START + dt.timedelta(seconds=self.now)

    def at(self, when: float, label: str, run: Callable[[], Awaitable[None]]) -> None:
        self._seq += 1
        heapq.heappush(self._queue, _Event(max(when, self.now), self._seq, label, run))

    def after(self, delay: float, label: str, run: Callable[[], Awaitable[None]]) -> None:
        self.at(self.now + delay, label, run)

    def pending_events(self) -> int:
        return len(self._queue)

    def _set_time(self, t: float) -> None:
        if t > self.now:
            self.clock.advance_now(dt.timedelta(seconds=t - self.now))
            self.now = t

    async def run_until(self, end: float) -> None:
        """Run events until the queue is empty or the next is after `end`."""
        while self._queue and self._queue[0].at <= end and not self.stopped:
            first = heapq.heappop(self._queue)
            self._set_time(first.at)
            batch = [first]
            if self.roll("concurrency"):
                while self._queue and self._queue[0].at <= first.at + 2.0 and len(batch) < 4:
                    batch.append(heapq.heappop(self._queue))
            self.step += 1
            self.strike()
            self.trace_line(f"{self.step} {self.now:.3f} " + " | ".join(e.label for e in batch))
            if len(batch) == 1:
                await self._guarded(first)
            else:
                self.count("busy moments (steps run together)")
                with self.interleaving():
                    await asyncio.gather(*(self._guarded(e) for e in batch))
            self.stats["steps"] += 1
            if self.on_step is not None:
                await self.on_step()
        if not self.stopped:
            self._set_time(end)  # nothing more happens before `end`

    @property
    def stopped(self) -> bool:
        return bool(self.violations) and self.stop_on_violation

    async def _yield(self) -> None:
        for _ in range(self.yrng.randrange(3)):
            await asyncio.sleep(0)

    @contextlib.contextmanager
    def interleaving(self) -> Iterator[None]:
        """Tasks run in this block give way to each other at database calls."""
        self._interleaving += 1
        inline_sqlite.set_yield_hook(self._yield)
        try:
            yield
        finally:
            self._interleaving -= 1
            if not self._interleaving:
                inline_sqlite.set_yield_hook(None)

    async def _guarded(self, e: _Event) -> None:
        try:
            await e.run()
        except BaseException as exc:
            crash = crash_in(exc)
            if crash is None:
                raise
            self.nodes[crash.node].crash(crash.where)

    # --- trace and counts --------------------------------------------------------
    def trace_line(self, line: str) -> None:
        self._trace.update(line.encode() + b"\n")
        self.trace_lines += 1
        if self.trace_kept is not None:
            self.trace_kept.append(line)

    @property
    def trace_hash(self) -> str:
        return self._trace.hexdigest()

    def count(self, what: str, n: int = 1) -> None:
        self.stats[what] += n

    def violation(self, invariant: str, detail: str) -> None:
        v = Violation(invariant, detail, self.step, self.now)
        self.violations.append(v)
        self.trace_line(f"VIOLATION {v}")

    # --- faults ----------------------------------------------------------------------
    def roll(self, fault: str) -> bool:
        """Whether a per-operation fault happens now (never once faults stopped)."""
        if self.now >= self.faults_end:
            return False
        p = self.cfg.fault(fault)
        return p > 0 and self.frng.random() < p

    def strike(self) -> None:
        """Before a step: maybe kill a process, take a database away, or
        bring the broker down or make it flaky, for a while."""
        rng = self.frng
        if self.roll("kill"):
            node = self.nodes[rng.choice(sorted(self.nodes))]
            if node.up:
                node.crash("(killed)")
        if self.roll("db_outage"):
            node = self.nodes[rng.choice(sorted(self.nodes))]
            length = rng.uniform(1, max(1.0, self.cfg.fault("db_outage_max_seconds")))
            self.count("database outages")
            self.trace_line(f"outage {node.name} database {length:.1f}s")
            node.db_down_until = max(node.db_down_until, self.now + length)
        if self.roll("broker_outage"):
            length = rng.uniform(1, 300)
            self.count("broker outages")
            self.trace_line(f"outage broker {length:.1f}s")
            self.broker.down_until = max(self.broker.down_until, self.now + length)
        if self.roll("broker_flaky"):
            length = rng.uniform(1, 300)
            self.count("broker flaky windows")
            self.trace_line(f"flaky broker {length:.1f}s")
            self.broker.flaky_until = max(self.broker.flaky_until, self.now + length)

    def crash_after_publish(self, node: str) -> None:
        if self.roll("crash_after_publish"):
            self.count("crash after publish")
            raise SimCrash(node, "between publishing and marking sent")

    def schedule_restart(self, node: Node, delay: float) -> None:
        node.restart_at = self.now + delay

        async def run() -> None:
            if node.up:
                return
            if not await node.restart():
                self.schedule_restart(node, max(5.0, node.db_down_until - self.now + 1))
                return
            self.count("restarts")
            self.wake_relay(node, delay=0.01)

        self.after(delay, f"restart {node.name}", run)

    # --- relays ---------------------------------------------------------------------
    def wake_relay(self, node: Node, delay: float | None = None, *, sweep: bool = False) -> None:
        """After a commit that wrote outbox rows: a relay pass soon. With
        `sweep`: the loop's sweep for rows a failure left unsent."""
        if not node.up:
            return
        when = self.now + (delay if delay is not None else self.frng.uniform(0.001, 0.05))
        if node.relay_at is not None and node.relay_at <= when:
            return
        node.relay_at = when
        self.at(when, f"relay {node.name}", self._relay_pass(node, when, sweep))

    def _relay_pass(self, node: Node, when: float, sweep: bool) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            if node.relay_at != when or not node.up:
                return  # superseded by an earlier pass, or the process died
            node.relay_at = None
            try:
                n = await node.runtime.relay.run_pass(swept=sweep)
                self.count("events published by relays", n)
            except SimCrash:
                raise
            except Exception as exc:  # the relay loop logs and sweeps again
                self.count(f"relay pass failed: {type(exc).__name__}")
            await self._next_sweep_of_outbox(node)

        return run

    async def _next_sweep_of_outbox(self, node: Node) -> None:
        """The relay's loop sweeps every few seconds while rows are unsent. A
        sweep publishes the rows whose back-off has passed, and every row as
        soon as the broker answers again; the sweeps in between find nothing
        to do and are skipped."""
        rows = await self.read(
            node.name,
            "SELECT COUNT(*), MIN(COALESCE(next_attempt_at, created_at)) FROM outbox"
            " WHERE sent_at IS NULL",
        )
        unsent, earliest = rows[0]
        if not unsent:
            return
        sweep = node.runtime.settings.outbox_sweep_seconds or 2.0
        due = _as_utc(earliest)
        wait = (due - self.at_time).total_seconds() if due else 0.0
        if self.now < self.broker.down_until:
            wait = min(wait, self.broker.down_until - self.now)
        # The loop's sweeps fall on its own period: round up to the next one.
        self.wake_relay(node, delay=sweep * max(1, math.ceil(wait / sweep)), sweep=True)

    # --- deliveries ------------------------------------------------------------------
    def schedule_delivery(self, g: Group, tp: TopicPartition, delay: float | None) -> None:
        if delay is None:
            delay = self.frng.uniform(0.005, 0.5)
            if self.roll("delayed_delivery"):
                self.count("deliveries delayed")
                # Held back for a while, but no longer than the faults last.
                delay = min(self.frng.uniform(30, 6 * 3600), max(0.5, self.faults_end - self.now))
        self.after(delay, f"deliver {g.name} {tp[0]}/{tp[1]}", self._deliver(g, tp))

    def _deliver(self, g: Group, tp: TopicPartition) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            # One delivery of a partition at a time, as one consumer reads it.
            delay: float | None = None
            try:
                delay = await deliver()
            finally:
                g.scheduled.discard(tp)
            self.broker.kick(g, tp, delay)

        async def deliver() -> float | None:
            """Apply the partition's next message; the delay before the next
            delivery if it is not the usual one."""
            node = self.nodes[g.node]
            if not node.up:
                return None  # the restart subscribes again and resumes
            if self.now < self.broker.down_until:
                return self.broker.down_until - self.now + 0.1
            msg = self.broker.pending(g, tp)
            handlers = node.spec.handlers
            while (
                msg is not None
                and handlers is not None
                and handlers.get(msg.header("ce_type") or "") is None
            ):
                # Another service's event on a topic this one reads: the
                # consumer would parse it and skip it; skipped here unparsed.
                self.broker.applied(g, tp, commit=False)
                self.count("deliveries skipped (no handler)")
                msg = self.broker.pending(g, tp)
            if msg is None:
                self.broker.commit(g, tp)
                return None
            self.trace_line(f"  {g.name} <- {msg.topic}/{msg.partition}@{msg.offset}")
            try:
                if self.roll("concurrent_redelivery"):
                    # A rebalance: the old owner and the new one apply it at once.
                    self.count("deliveries to two consumers at once")
                    with self.interleaving():
                        await asyncio.gather(g.process(msg), self._copy(g, msg))
                else:
                    await g.process(msg)
            except Exception as exc:
                # Not consumed: a real consumer fails and reads it again.
                self.trace_line(f"  failed: {type(exc).__name__}")
                self.count(f"delivery failed: {type(exc).__name__}")
                self.broker.lost_consumer(g.name)
                return 1.0
            self.count("deliveries")
            if self.roll("crash_before_offset_commit"):
                self.count("crash before offset commit")
                raise SimCrash(node.name, "between applying a message and committing its offset")
            if self.roll("duplicate_delivery"):
                self.count("deliveries duplicated")
                return None
            self.broker.applied(g, tp, commit=False)
            # The consumer commits its offsets now and then, and when it is idle.
            if self.frng.random() < 0.5 or self.broker.pending(g, tp) is None:
                self.broker.commit(g, tp)
            return None

        return run

    async def _copy(self, g: Group, msg: Message) -> None:
        await g.process(
            Message(msg.topic, msg.key, msg.value, list(msg.headers), msg.partition, msg.offset)
        )

    def dead_lettered(self, node: str, msg: Message) -> None:
        self.count("dead letters")
        error = msg.header("dlq_error") or ""
        self.violation(
            "no dead letters",
            f"{node} dead-lettered a {msg.header('ce_type')} from {msg.topic}: {error[:300]}",
        )

    # --- sweepers --------------------------------------------------------------------
    def schedule_sweeps(
        self, node: Node, until: float, every: float | None = None, retain: float | None = None
    ) -> None:
        """Run the node's sweepers every `every` seconds and its retention
        every `retain`; without them each at its own configured period (but
        not more often than the settling time's minimum)."""
        floor = self.cfg.settle_min_period_seconds
        for period, job in node.spec.periodic:
            name = getattr(job, "__name__", "job")
            if every is not None:
                self._schedule_job(node, job, self.cfg.occasional_jobs.get(name, every), until)
            else:
                self._schedule_job(node, job, max(period, floor), until)
        own = node.runtime.settings.retention_sweep_seconds
        self._schedule_job(node, retention.sweep, retain or max(own, floor), until)

    def _schedule_job(self, node: Node, job: Periodic, every: float, until: float) -> None:
        name = getattr(job, "__name__", "job")

        async def run() -> None:
            if node.up:
                with contextlib.suppress(Exception):  # its loop logs and goes on
                    await job(node.runtime)
                self.count("sweeps")
            nxt = self.now + every * self.frng.uniform(0.8, 1.2)
            if nxt <= until:
                self.at(nxt, f"sweep {node.name} {name}", run)

        first = self.now + every * self.frng.uniform(0.1, 1.0)
        if first <= until:
            self.at(first, f"sweep {node.name} {name}", run)

    # --- HTTP ------------------------------------------------------------------------
    async def http(
        self,
        node_name: str,
        method: str,
        path: str,
        *,
        headers: dict[str, str],
        json_body: Any = None,
        content: bytes | None = None,
        query: str = "",
    ) -> Response | None:
        """One HTTP exchange with a service, as its client sees it: a response,
        or None when the connection failed (the service is down or died)."""
        node = self.nodes[node_name]
        if not node.up:
            self.count("requests refused: service down")
            return None
        if json_body is not None:
            raw = json.dumps(json_body, ensure_ascii=False).encode()
            headers = {"Content-Type": "application/json", **headers}
        else:
            raw = content or b""
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
            + [(b"accept-language", b"en"), (b"content-length", str(len(raw)).encode())],
            "server": ("sim", 80),
            "client": ("sim-client", 1),
            "root_path": "",
            "state": {},
        }
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return {"type": "http.disconnect"}

        got: dict[str, Any] = {"status": None, "headers": {}, "body": bytearray(), "done": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                got["status"] = message["status"]
                got["headers"] = {
                    k.decode().lower(): v.decode() for k, v in message.get("headers", [])
                }
            elif message["type"] == "http.response.body":
                got["body"].extend(message.get("body", b""))
                if not message.get("more_body"):
                    got["done"] = True

        self.count("requests")
        try:
            await node.app(scope, receive, send)
        except BaseException as exc:
            crash = crash_in(exc)
            if crash is None and not isinstance(exc, Exception):
                raise
            if crash is not None:
                self.nodes[crash.node].crash(crash.where)
            if not got["done"]:
                return None
        if got["status"] is None or not got["done"]:
            return None
        body: Any = bytes(got["body"])
        if (
            got["headers"]
            .get("content-type", "")
            .startswith(("application/json", "application/problem"))
        ):
            with contextlib.suppress(ValueError):
                body = json.loads(body)
        self.count(f"responses {got['status'] // 100}xx")
        return Response(got["status"], body, got["headers"])

    # --- reading the databases directly (the harness's own view) -----------------------
    async def read(self, node: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return await self.readers[node].rows(sql, *params)
