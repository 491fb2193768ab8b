"""aiokafka's client with its metadata refreshes paced while the broker is away.

aiokafka's producer, holding a batch for a partition whose leader it does not
know (a broker shutting down answers "leader -1"), asks its client for fresh
metadata and waits for the answer, then asks again. The client's metadata
task has no back-off of its own (`retry_backoff_ms` is not applied there):
with the broker's port refused, each round fails at once and logs two lines
("Unable connect to node", "Unable to update metadata"), some thousands of
times a second for as long as the outage and the send last. Here a failed
refresh of the client's own metadata waits before it answers, a capped
exponential back-off reset by the next success, so those rounds, and their
lines, come a few a second at most.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiokafka.client import AIOKafkaClient

log = structlog.get_logger(__name__)

#: Wait after the first failed metadata refresh, and the longest wait.
METADATA_RETRY_FIRST_SECONDS = 0.2
METADATA_RETRY_MAX_SECONDS = 2.0


def metadata_retry_delay(failures: int) -> float:
    """The wait after `failures` metadata refreshes in a row failed."""
    return min(METADATA_RETRY_MAX_SECONDS, METADATA_RETRY_FIRST_SECONDS * 2 ** min(failures - 1, 8))


class PacedClient(AIOKafkaClient):
    """An `AIOKafkaClient` whose failed background metadata refreshes back off."""

    _failed_refreshes = 0

    async def _metadata_update(self, cluster_metadata: Any, topics: Any) -> bool:
        updated: bool = await super()._metadata_update(cluster_metadata, topics)
        if cluster_metadata is not self.cluster:
            # A one-off fetch (`fetch_all_metadata`, the readiness probe):
            # answered at once; its caller paces it.
            return updated
        if updated:
            self._failed_refreshes = 0
            return updated
        self._failed_refreshes += 1
        await asyncio.sleep(metadata_retry_delay(self._failed_refreshes))
        return updated


def paced(client: AIOKafkaClient) -> AIOKafkaClient:
    """Make a producer's or consumer's own client a `PacedClient`. They build
    it in their constructor, with no way to pass another class; the subclass
    adds no state but a counter, so the instance's class is swapped."""
    client.__class__ = PacedClient
    return client


async def discard_producer(producer: Any, exc: BaseException, *, wait: float) -> int:
    """Bring down a producer whose `stop()` did not finish (it waits, without
    end, for batches the broker never acknowledged). Returns the messages it
    still held, each of whose futures now fails with `exc`.

    Left alone, such a producer lived on: its sender kept retrying the
    batches and, once the broker was back, delivered them after they had
    been reported unconfirmed (sent again by the relay), or failed them —
    with `LeaderNotAvailableError` when the restarted broker named no leader
    yet — into futures no one held any more, which asyncio prints at
    collection as "Future exception was never retrieved". aiokafka has no
    way to abort a producer, so this reaches into its sender and
    accumulator (aiokafka 0.14, pinned in uv.lock).
    """
    sender = producer._sender
    task = sender.sender_task if sender is not None else None
    if task is not None and not task.done():
        # Cancelled, the sender waits for its requests in flight (each ends
        # within the request timeout), so none is left running when its
        # batches are failed below.
        task.cancel()
        await asyncio.wait([task], timeout=wait)
    if task is not None and task.done() and not task.cancelled():
        task.exception()  # ended by an error the producer already failed its batches with
    elif task is not None and not task.done():
        # Still waiting on a request (the batches are failed below all the
        # same; one the broker took is sent again, and the inboxes drop the
        # copy): its end is read whenever it comes, not printed by asyncio.
        log.warning("Kafka producer discarded with a request still in flight")
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
    accumulator = producer._message_accumulator
    batches = [b for queue in accumulator._batches.values() for b in queue]
    batches += list(accumulator._pending_batches)
    # A batch sent once and queued again for a retry is out of the pending
    # set, where the callback that its failure runs expects to find it.
    accumulator._pending_batches.update(batches)
    held = 0
    for batch in batches:
        held += sum(1 for fut, _ in batch._msg_futures if not fut.done())
        batch.failure(exception=exc)
        # `failure` also fails the batch's own future and its drain waiter,
        # which only aiokafka awaits and, here, never will: read so asyncio
        # does not report them as never retrieved.
        for fut in (batch.future, batch._drain_waiter):
            if fut.done() and not fut.cancelled():
                fut.exception()
    accumulator._batches.clear()
    accumulator._exception = exc  # a late `send` on it fails at once
    await producer.client.close()
    return held
