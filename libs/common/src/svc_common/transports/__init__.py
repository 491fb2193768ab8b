"""Event transports behind one interface: Kafka in production, in-process for
the embedded default. Both are fed by the outbox relay and feed the inbox."""

from __future__ import annotations

from svc_common.transports.base import ProcessFn, Transport


def make_transport(
    url: str, *, client_id: str, partitions: int = 3, replication: int = 1
) -> Transport:
    """`local` or `kafka://host:port[,host:port]`."""
    if url == "local":
        from svc_common.transports.local import LocalTransport

        return LocalTransport()
    if url.startswith("kafka://"):
        from svc_common.transports.kafka import KafkaTransport

        return KafkaTransport(
            url.removeprefix("kafka://"),
            client_id=client_id,
            partitions=partitions,
            replication=replication,
        )
    raise ValueError(f"EVENT_TRANSPORT must be 'local' or kafka://host:port, not {url!r}")


__all__ = ["ProcessFn", "Transport", "make_transport"]
