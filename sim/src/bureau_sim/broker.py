"""A simulated event broker with Kafka's guarantees and nothing more.

Topics are split into partitions by a hash of the message key: a key's
messages stay in order, different keys may be delivered in any order. Each
consumer group has, per partition, a position it reads from and a committed
offset it restarts from: a crash between applying a message and committing
its offset redelivers it. The scheduler decides when each delivery happens,
so deliveries are delayed, reordered across partitions, duplicated or handed
to two consumers at once (a rebalance) as the seed says. The broker can be
down (every publish fails) or flaky (a publish fails from some message on,
per partition, as an idempotent producer fails the rest of a batch).

`SimTransport` is one service's connection to the broker: the
`svc_common.transports.base.Transport` the service's relay publishes to and
its inbox consumer subscribes with.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from svc_common.events.envelope import Message
from svc_common.transports.base import DLQ_SUFFIX, ProcessFn, Transport

if TYPE_CHECKING:
    from bureau_sim.world import Sim

TopicPartition = tuple[str, int]
#: A publisher's unsent outbox rows by key: (seq, event id), in seq order.
Unsent = dict[str, list[tuple[int, str]]]


class BrokerUnavailable(ConnectionError):
    """The broker did not acknowledge the message."""


@dataclass
class Group:
    """A consumer group: one service's inbox consumer."""

    name: str
    node: str
    topics: list[str]
    process: ProcessFn
    next: dict[TopicPartition, int] = field(default_factory=dict)
    committed: dict[TopicPartition, int] = field(default_factory=dict)
    scheduled: set[TopicPartition] = field(default_factory=set)


class Broker:
    def __init__(self, sim: Sim, partitions: int) -> None:
        self.sim = sim
        self.partitions = partitions
        self.logs: dict[TopicPartition, list[Message]] = {}
        self.groups: dict[str, Group] = {}
        self.dead_letters: list[Message] = []
        self.published = 0
        self.down_until = 0.0
        self.flaky_until = 0.0
        self._seen: set[str] = set()

    # --- producing ---------------------------------------------------------------
    def partition_of(self, key: str | None) -> int:
        return zlib.crc32((key or "").encode()) % self.partitions

    def publish(
        self, node: str, messages: list[Message], unsent: Unsent | None = None
    ) -> list[BaseException | None]:
        """Append what the broker acknowledges; `unsent` are the publisher's
        unsent outbox rows of the messages' keys, to check their order."""
        now = self.sim.now
        if now < self.down_until:
            self.sim.count("publish failed: broker down", len(messages))
            return [BrokerUnavailable("broker unavailable (simulated)")] * len(messages)
        results: list[BaseException | None] = []
        failed_partitions: set[TopicPartition] = set()
        flaky = now < self.flaky_until
        for msg in messages:
            if msg.topic.endswith(DLQ_SUFFIX):
                self.dead_letters.append(msg)
                self.sim.dead_lettered(node, msg)
                results.append(None)
                continue
            tp = (msg.topic, self.partition_of(msg.key))
            if tp in failed_partitions or (flaky and self.sim.frng.random() < 0.3):
                # The rest of the batch for this partition fails too: order holds.
                failed_partitions.add(tp)
                self.sim.count("publish failed: broker flaky")
                results.append(BrokerUnavailable("not acknowledged (simulated)"))
                continue
            self._check_order(node, msg, unsent or {})
            log = self.logs.setdefault(tp, [])
            log.append(
                Message(
                    topic=msg.topic,
                    key=msg.key,
                    value=msg.value,
                    headers=list(msg.headers),
                    partition=tp[1],
                    offset=len(log),
                )
            )
            self.published += 1
            results.append(None)
            for group in self.groups.values():
                if msg.topic in group.topics:
                    self.kick(group, tp)
        return results

    def _check_order(self, node: str, msg: Message, unsent: Unsent) -> None:
        """A key's event is published only after every older unsent event of
        that key was (outbox rows are compared while both exist: SQLite may
        reuse the numbers of rows retention deleted)."""
        event_id = msg.header("ce_id") or ""
        rows = unsent.get(msg.key or "", [])
        mine = next((seq for seq, e in rows if e == event_id), None)
        if mine is not None:
            for seq, older in rows:
                if seq < mine and older not in self._seen:
                    self.sim.violation(
                        "events of one aggregate in order",
                        f"{node} published {msg.header('ce_type')} of {msg.key} (outbox row "
                        f"{mine}) before its earlier event {older} (row {seq})",
                    )
                    break
        self._seen.add(event_id)

    # --- consuming ---------------------------------------------------------------
    def subscribe(self, node: str, group: str, topics: list[str], process: ProcessFn) -> None:
        """A (re)started service subscribes; it resumes from the committed offsets."""
        g = self.groups.get(group)
        if g is None:
            g = self.groups[group] = Group(group, node, list(topics), process)
        g.process, g.topics = process, list(topics)
        g.next = dict(g.committed)
        for tp in self.logs:
            if tp[0] in g.topics:
                self.kick(g, tp)

    def lost_consumer(self, group: str) -> None:
        """The group's service crashed: what it applied but did not commit
        is read again from the committed offsets."""
        g = self.groups.get(group)
        if g is not None:
            g.next = dict(g.committed)

    def pending(self, g: Group, tp: TopicPartition) -> Message | None:
        log = self.logs.get(tp, [])
        at = g.next.get(tp, 0)
        return log[at] if at < len(log) else None

    def kick(self, g: Group, tp: TopicPartition, delay: float | None = None) -> None:
        """Make sure a delivery of `tp` to `g` is scheduled."""
        if tp in g.scheduled or self.pending(g, tp) is None:
            return
        g.scheduled.add(tp)
        self.sim.schedule_delivery(g, tp, delay)

    def applied(self, g: Group, tp: TopicPartition, *, commit: bool) -> None:
        g.next[tp] = g.next.get(tp, 0) + 1
        if commit:
            g.committed[tp] = g.next[tp]

    def commit(self, g: Group, tp: TopicPartition) -> None:
        g.committed[tp] = g.next.get(tp, 0)

    def backlog(self) -> int:
        """Messages some group has not applied yet."""
        total = 0
        for g in self.groups.values():
            for tp, log in self.logs.items():
                if tp[0] in g.topics:
                    total += len(log) - g.next.get(tp, 0)
        return total

    def unconsumed(self) -> list[str]:
        """What some group has not applied yet, one line per partition."""
        out = []
        for g in self.groups.values():
            for tp, log in sorted(self.logs.items()):
                at = g.next.get(tp, 0)
                if tp[0] in g.topics and at < len(log):
                    msg = log[at]
                    state = "a delivery scheduled" if tp in g.scheduled else "none scheduled"
                    out.append(
                        f"{g.name} at {tp[0]}/{tp[1]}@{at} of {len(log)} "
                        f"({msg.header('ce_type')} of {msg.key}; {state})"
                    )
        return out

    def uncommitted(self) -> int:
        total = 0
        for g in self.groups.values():
            for tp, log in self.logs.items():
                if tp[0] in g.topics:
                    total += len(log) - g.committed.get(tp, 0)
        return total


class SimTransport(Transport):
    """One service's connection to the simulated broker (of the seed running)."""

    def __init__(self, node: str) -> None:
        self.node = node
        self._broker: Broker | None = None

    def connect(self, broker: Broker | None) -> None:
        self._broker = broker

    @property
    def broker(self) -> Broker:
        assert self._broker is not None, "not connected to a broker"
        return self._broker

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def ready(self) -> bool:
        return self.broker.sim.now >= self.broker.down_until

    def subscribe(self, group: str, topics: list[str], process: ProcessFn) -> None:
        self.broker.subscribe(self.node, group, topics, process)

    async def publish_batch(self, messages: list[Message]) -> list[BaseException | None]:
        keys = sorted({m.key or "" for m in messages if not m.topic.endswith(DLQ_SUFFIX)})
        unsent: Unsent = {}
        if keys:
            marks = ", ".join("?" * len(keys))
            for key, seq, event_id in await self.broker.sim.read(
                self.node,
                "SELECT key, seq, event_id FROM outbox"
                f" WHERE sent_at IS NULL AND key IN ({marks}) ORDER BY seq",
                *keys,
            ):
                unsent.setdefault(str(key), []).append((int(seq), str(event_id)))
        results = self.broker.publish(self.node, messages, unsent)
        if messages and any(r is None for r in results):
            # The crash point between publishing and marking the rows sent.
            self.broker.sim.crash_after_publish(self.node)
        return results
