"""The workload: the users, their helpers, and the plan of the year.

Each user's story is an async generator: it makes one request at a time and
yields how long to wait before its next step. All choices come from the
seed's workload stream."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from svc_common.uscc import make_uscc

from bureau_sim.client import Actor, Client, Op
from bureau_sim.config import DAY, HOUR
from bureau_sim.workload import filings, forms, permits, quota, setup, supervision
from bureau_sim.workload.city import CST, DISTRICT_CODES, City, Story
from bureau_sim.world import Sim


class Workload:
    def __init__(self, sim: Sim, client: Client) -> None:
        self.sim = sim
        self.cfg = sim.cfg
        self.rng = sim.wrng
        self.client = client
        self.city = City.load()
        self.end = sim.cfg.days * DAY
        self.admin = Actor("admin.zhang", "admin")
        self.officers = {
            d: (Actor(f"officer.{d}.a", "officer", (d,)), Actor(f"officer.{d}.b", "officer", (d,)))
            for d in DISTRICT_CODES
        }
        self.desk = Actor("officer.quota-desk", "officer", tuple(DISTRICT_CODES))
        self.filers = [Actor(f"filer.machine-{i}", "filer") for i in range(1, 4)]
        self.applicants = [Actor(f"filer.applicant-{i}", "filer") for i in range(1, 9)]
        self.investment = Actor("investment.li", "investment")
        self.auditor = Actor("auditor.sun", "auditor")
        self._serial = 0
        self.row_keys: list[tuple[Actor, dict[str, Any]]] = []

    @property
    def over(self) -> bool:
        return self.sim.now >= self.end

    def days(self, lo: float, hi: float) -> float:
        return self.rng.uniform(lo, hi) * DAY

    def today(self) -> dt.date:
        return self.sim.at_time.astimezone(CST).date()

    def uscc(self, district: str) -> str:
        self._serial += 1
        return make_uscc(district, self.rng.randrange(31**8) * 31 + self._serial % 31)

    def start(self, story: Story, at: float, label: str) -> None:
        async def step() -> None:
            try:
                delay = await story.__anext__()
            except StopAsyncIteration:
                return
            self.sim.after(max(0.001, delay), label, step)

        self.sim.at(at, label, step)

    async def send(self, op: Op) -> AsyncIterator[float]:
        """Yield back-off delays until `op` has its final answer (or is given up)."""
        while await self.client.attempt(op) is None and not op.gave_up:
            yield self.client.backoff(op)

    def post(self, node: str, path: str, actor: Actor, body: Any, effect: str | None) -> Op:
        return self.client.op(node, "POST", path, actor, json_body=body, effect=effect)

    def get(self, node: str, path: str, actor: Actor, query: str = "") -> Op:
        return self.client.op(node, "GET", path, actor, query=query)

    def _upload(self, node: str, path: str, rows: list[dict[str, Any]], effect: str) -> Op:
        return self.client.op(
            node,
            "POST",
            path,
            self.admin,
            content="\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode(),
            content_type="application/x-ndjson",
            effect=effect,
        )

    def plan(self) -> None:
        """Schedule the first day's set-up and every story of the year."""
        self.start(setup.setup(self), 0.0, "setup")
        cfg, span = self.cfg, self.end
        starts: list[tuple[Callable[[Workload], Story], str, int]] = [
            (filings.filing, "filing", cfg.filings),
            (permits.permit_life, "permit", cfg.permit_stories),
            (permits.registration, "registration", cfg.registrations),
            (forms.machine_filing, "machine filing", cfg.machine_filings),
            (forms.bulk_filing, "bulk filing", cfg.bulk_uploads),
            (permits.audit, "audit", cfg.audits),
            (quota.policy_change, "policy", cfg.ratio_changes),
            (quota.manual_reclaim, "manual reclaim", cfg.manual_reclaims),
            (quota.manual_reservation, "reservation", cfg.manual_reservations),
            (quota.desk_round, "reclaim desk", cfg.desk_rounds),
            (quota.reads, "reads", cfg.reads),
            (supervision.enforcement, "enforcement", cfg.enforcements),
        ]
        for i in range(cfg.rushes):
            at = self.rng.uniform(0.05 * DAY, span * 0.97)
            d = self.rng.choice(DISTRICT_CODES)
            for j in range(cfg.rush_size):
                self.start(
                    self._after_setup(functools.partial(quota.manual_reservation, district=d)),
                    at + self.rng.uniform(0, 1.0),
                    f"rush {i}.{j}",
                )
        for make, label, n in starts:
            for i in range(n):
                at = self.rng.uniform(0.05 * DAY, span * 0.97)
                self.start(self._after_setup(make), at, f"{label} {i}")

    async def _after_setup(self, make: Callable[[Workload], Story]) -> Story:
        while not self.city.ready:
            yield HOUR
        async for delay in make(self):
            yield delay
