"""The chaos suite's sizes, read from CHAOS_* environment variables.

Two profiles: `full` (`make chaos`: the broker stopped for 60 s, four kills,
a rolling deploy of every service) and `bounded` (the run inside `make
test`: the same faults, shorter, the rolling deploy of permit-svc alone).
Any single size can be overridden by its variable; docs/RELIABILITY.md
lists them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Any

PROFILES: dict[str, dict[str, Any]] = {
    "full": {
        "districts": 4,
        "stories_per_second": 3.0,
        "max_inflight": 200,
        "http_concurrency": 16,
        "gap_seconds": 8.0,
        "broker_down_seconds": 60.0,
        "pg_down_seconds": 3.0,
        "backlog_seconds": 6.0,
        "kills": 4,
        "tail_seconds": 10.0,
        "drain_seconds": 240.0,
    },
    "bounded": {
        "districts": 3,
        "stories_per_second": 2.0,
        "max_inflight": 100,
        "http_concurrency": 8,
        "gap_seconds": 2.0,
        "broker_down_seconds": 5.0,
        "pg_down_seconds": 2.0,
        "backlog_seconds": 4.0,
        "kills": 2,
        "tail_seconds": 2.0,
        "drain_seconds": 120.0,
        # One replica (permit-svc's only one, on the filing saga's path):
        # about 16 s more; every service would be minutes.
        "roll": "permit",
    },
}


@dataclass(frozen=True)
class ChaosSettings:
    profile: str = "full"
    #: Replicas of each service (each its own process on the service's database).
    quota_replicas: int = 2
    eia_replicas: int = 2
    permit_replicas: int = 1
    supervision_replicas: int = 1
    #: Districts the load spreads over (each its own quota pool).
    districts: int = 4
    #: New client stories started per second while the faults run, and the
    #: most that may be under way at once (a story waits for the saga).
    stories_per_second: float = 3.0
    max_inflight: int = 200
    #: HTTP requests in flight at once, over every replica.
    http_concurrency: int = 16
    #: Load between two faults, and after the last one.
    gap_seconds: float = 8.0
    tail_seconds: float = 10.0
    #: The broker is stopped this long (then started; its start-up comes on top).
    broker_down_seconds: float = 60.0
    #: quota-svc's replicas are paused (SIGSTOP) this long to build a backlog,
    #: then PostgreSQL is stopped, the replicas resumed, and PostgreSQL started
    #: again after `pg_down_seconds`.
    backlog_seconds: float = 6.0
    pg_down_seconds: float = 3.0
    #: kill -9 of a replica (then restarted), this many times in all.
    kills: int = 4
    #: The rolling deploy: the services whose replicas are replaced one by
    #: one (SIGTERM, a new process in each's place), comma-separated; empty:
    #: none. A stopping replica is killed if still running after
    #: `stop_grace_seconds` (docker-compose.yml's stop_grace_period).
    roll: str = "quota,eia,permit,supervision"
    stop_grace_seconds: float = 60.0
    #: Longest wait for the system to drain after the load stops.
    drain_seconds: float = 240.0
    #: A client gives up on a request (retrying with its Idempotency-Key)
    #: after this long; giving up fails the run.
    request_deadline_seconds: float = 240.0
    #: How long a client waits for one answer before it tries another
    #: replica with the same Idempotency-Key.
    client_timeout_seconds: float = 5.0
    seed: int = 8
    #: The services' log level (their logs are kept with the run).
    log_level: str = "WARNING"

    @classmethod
    def from_env(
        cls, env: dict[str, str] | None = None, profile: str | None = None
    ) -> ChaosSettings:
        env = dict(os.environ if env is None else env)
        name = profile or env.get("CHAOS_PROFILE", "full")
        if name not in PROFILES:
            raise ValueError(f"CHAOS_PROFILE must be one of {', '.join(PROFILES)}")
        s = replace(cls(), profile=name, **PROFILES[name])
        overrides: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"CHAOS_{f.name.upper()}")
            if raw is None or f.name == "profile":
                continue
            kind = type(getattr(s, f.name))
            overrides[f.name] = kind(raw)
        return replace(s, **overrides)

    def describe(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
