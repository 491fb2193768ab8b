from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable

from svc_common.events.envelope import Message

#: Applies one message. It returns once the effect is committed (or the message
#: is dead-lettered); only then may a transport treat the message as consumed.
ProcessFn = Callable[[Message], Awaitable[None]]

DLQ_SUFFIX = ".dlq"


class Transport(abc.ABC):
    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...

    async def stop_consuming(self, grace: float) -> None:  # noqa: B027 - optional
        """Stop delivering messages, letting what is being applied finish
        (within `grace` seconds) and be acknowledged; publishing goes on
        until `stop`. Nothing to do where delivery is synchronous."""

    @abc.abstractmethod
    async def publish_batch(self, messages: list[Message]) -> list[BaseException | None]:
        """Publish in order; one result per message (None = acknowledged)."""

    @abc.abstractmethod
    def subscribe(self, group: str, topics: list[str], process: ProcessFn) -> None:
        """Consume `topics` as consumer group `group` once started."""

    @abc.abstractmethod
    async def ready(self) -> bool: ...

    async def consumer_lag(self) -> dict[tuple[str, str, int], int]:
        """(group, topic, partition) → messages not yet applied, for the
        partitions this process consumes; empty where delivery is synchronous."""
        return {}

    def retrying(self) -> dict[str, str]:
        """Partitions (or streams) paused on a transient failure, with the error."""
        return {}

    async def ensure_topics(self, topics: list[str]) -> None:  # noqa: B027 - optional
        """Create topics (and their .dlq twins) where the transport has such a thing."""
