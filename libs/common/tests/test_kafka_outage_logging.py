"""A send waiting out a broker outage does not flood the log.

A broker shutting down answers that a partition has no leader (-1); a
producer holding a batch for it then asks for fresh metadata until it learns
one. With the broker's port refused, aiokafka asked again at once, each try
logging two lines: thousands a second for as long as the outage lasted.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid

import pytest
from aiokafka.protocol.metadata import MetadataResponse_v0
from aiokafka.structs import TopicPartition
from svc_common import testing
from svc_common.events.envelope import Message
from svc_common.transports.kafka import KafkaTransport

pytestmark = pytest.mark.kafka


class Counting(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_send_in_flight_during_an_outage_logs_a_few_lines_not_thousands() -> None:
    topic = f"outage-{uuid.uuid4().hex[:8]}.events"
    t = KafkaTransport(testing.kafka_bootstrap(), client_id="outage-log", publish_timeout=5.0)
    await t.ensure_topics([topic])
    counting = Counting()
    aiokafka_log = logging.getLogger("aiokafka")
    old_level = aiokafka_log.level
    aiokafka_log.addHandler(counting)
    aiokafka_log.setLevel(logging.INFO)
    try:
        # A real producer, connected, its topic's metadata known.
        assert await t.publish_batch([Message(topic=topic, key="k", value=b"{}")]) == [None]
        producer = t._producer
        assert producer is not None
        client = producer.client
        # The broker goes away as a shutting-down one does: its last answer
        # says the topic's partitions have no leader, then its port refuses.
        brokers = [(b.nodeId, b.host, b.port) for b in client.cluster.brokers()]
        leaders = {
            p: client.cluster.leader_for_partition(TopicPartition(topic, p))
            for p in client.cluster.partitions_for_topic(topic)
        }
        client.cluster.update_metadata(
            MetadataResponse_v0(
                [(node, "127.0.0.1", closed_port()) for node, _, _ in brokers],
                [(0, topic, [(0, p, -1, [], []) for p in leaders])],
            )
        )
        for conn in list(client._conns.values()):
            conn.close()

        counting.records.clear()
        in_flight = asyncio.create_task(
            t.publish_batch([Message(topic=topic, key="k", value=b"{}")])
        )
        await asyncio.sleep(3)
        lines = len(counting.records)
        assert not in_flight.done()  # the send was waiting all along
        # Two lines a metadata try, a back-off between tries: a handful.
        # Before, some ten thousand.
        assert lines <= 40, f"{lines} aiokafka log lines in 3 s, e.g. {counting.records[-1].msg}"

        # The broker is back where it was, the leaders known: the send goes through.
        client.cluster.update_metadata(
            MetadataResponse_v0(
                brokers, [(0, topic, [(0, p, leader, [], []) for p, leader in leaders.items()])]
            )
        )
        assert await in_flight == [None]
    finally:
        aiokafka_log.removeHandler(counting)
        aiokafka_log.setLevel(old_level)
        await t.stop()
