"""A graceful stop of a served process, as a rolling deploy needs it.

uvicorn, sent SIGTERM, stops listening at once: requests a load balancer
still routes to the replica (it learns of the stop from the readiness probe,
or from Kubernetes' endpoints, a moment later) are refused, and a client
sending on a kept-alive connection as it is closed has it reset. Here the
first SIGTERM only marks the app as stopping: /ready answers 503
(`stopping: true`) while every request is still accepted and answered, for
`delay` seconds; then uvicorn's own shutdown runs (stop listening, finish
the requests in flight within timeout_graceful_shutdown, the app's lifespan
shutdown). A second signal, or SIGINT (Ctrl-C), skips the delay; a second
SIGINT forces the exit, as in uvicorn.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import time
from types import FrameType
from typing import Any

import structlog
import uvicorn

from svc_common.settings import ServiceSettings, StopSettings

log = structlog.get_logger(__name__)

#: uvicorn's exit status when the app did not start (its migrations failed…).
STARTUP_FAILURE = 3


def mark_draining(app: Any) -> None:
    """Tell the app its process is stopping (its readiness turns 503). An
    app that dispatches to others in the same process (`bureau run`'s
    embedded default: `served_apps`) tells them too, so each one's /ready
    says so as well as the process-wide one."""
    state = getattr(app, "state", None)
    if state is not None:
        state.draining = True
    for inner in getattr(app, "served_apps", ()):
        mark_draining(inner)


def is_draining(app: Any) -> bool:
    state = getattr(app, "state", None)
    return bool(getattr(state, "draining", False))


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, *, delay: float) -> None:
        super().__init__(config)
        self.delay = delay
        self._stopping_since: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # SIGTERM is the orchestrator's; Ctrl-C (SIGINT) at a terminal has
        # no balancer to wait for, and stops listening at once.
        if (
            sig == signal.SIGTERM
            and self._stopping_since is None
            and self.delay > 0
            and not self.should_exit
        ):
            # Runs in the signal handler: only flags, no I/O but a log line.
            self._captured_signals.append(sig)
            self._stopping_since = time.monotonic()
            mark_draining(self.config.app)
            log.info("stopping: not ready, still serving", delay_s=self.delay, signal=sig)
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if (
            self._stopping_since is not None
            and not self.should_exit
            and time.monotonic() - self._stopping_since >= self.delay
        ):
            log.info("stopping: no longer accepting; finishing the requests in flight")
            self.should_exit = True
        return await super().on_tick(counter)

    def run(self, sockets: Any = None) -> None:
        """As `uvicorn.run` does: exit with uvicorn's status if the app never started."""
        with contextlib.suppress(KeyboardInterrupt):
            super().run(sockets)
        if not self.started:
            sys.exit(STARTUP_FAILURE)


def serve_draining(app: Any, settings: StopSettings, **options: Any) -> None:
    """Serve `app` until a signal stops it gracefully (`DrainingServer`, the
    delay and the in-flight timeout of `settings`): the one way the
    services and the console run. `options` are uvicorn.Config's (host,
    port, log_config…). The app's /ready answers 503 with `stopping: true`
    while `is_draining(app)`."""
    config = uvicorn.Config(
        app,
        timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout_seconds),
        **options,
    )
    DrainingServer(config, delay=settings.shutdown_delay_seconds).run()


def longest_stop_seconds(settings: StopSettings) -> float:
    """The longest a graceful stop can take with these settings, each step
    at its bound (docs/operations.md, "Stopping a replica"): what a
    deployment's grace period must exceed. Usually it is the delay and a
    second or two. A process with no consumers and no outbox relay (the
    console) stops after its requests in flight."""
    served = settings.shutdown_delay_seconds + settings.shutdown_timeout_seconds
    if not isinstance(settings, ServiceSettings):
        return served
    from svc_common.transports import kafka

    return (
        served
        + settings.shutdown_drain_seconds  # the consumers' batch in hand
        + kafka.COMMIT_ON_STOP_SECONDS
        + kafka.LEAVE_GROUP_SECONDS
        + settings.shutdown_drain_seconds  # the relay's last pass
        + kafka.PRODUCER_STOP_SECONDS
    )
