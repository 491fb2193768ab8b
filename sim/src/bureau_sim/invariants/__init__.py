"""What must hold, read from each service's own database.

After every step (cheap, incremental): the quota journal replays to every
stored balance and every entry's balance-after; no pool and no hold below
zero; per pool, what is reserved is what its held reservations hold and what
is allocated is what its allocated reservations got; per district, what the
pools (sub-pools included) were credited is what the credit entries say;
no event applied twice by one service (checked as it happens, see nodes).

At the end, once the faults have stopped and the settling time has passed:
no outbox row unsent, no message unconsumed, no dead letter; every saga in a
final state; the services agree (holds = secured filings, allocations =
approved filings and what permit-svc learned, permit drafts = approved
filings needing a permit, reclaim candidates = closures and decreases, parks
carved once); four eyes on reclaims (a permit's reclaim names whoever
cancelled or cut the permit as its creator, and no reclaim is decided by
its creator); every request took effect exactly once and its user got the
answer of that effect; every state change has its audit entry.
"""

from __future__ import annotations

from collections import Counter

from bureau_sim.client import Actor, Client
from bureau_sim.invariants import agreement, coverage, requests, trail
from bureau_sim.invariants.ledger import LedgerReplay, ledger_checks_pass
from bureau_sim.world import Sim

#: The end checks, in the order they run.
AT_END = (
    ledger_checks_pass,
    agreement.drained,
    agreement.sagas,
    agreement.allocations_learned,
    agreement.permit_drafts,
    agreement.reclaim_candidates,
    agreement.reclaims_four_eyes,
    agreement.filings_four_eyes,
    agreement.parks_carved,
    agreement.supervision_register,
    agreement.suspensions,
    requests.requests_once,
    trail.permit_trail,
    trail.eia_trail,
    trail.quota_trail,
)


class Invariants:
    def __init__(self, sim: Sim, client: Client) -> None:
        self.sim = sim
        self.client = client
        self.auditor = Actor("auditor.sim", "auditor")
        self.replay = LedgerReplay(self)

    def fail(self, invariant: str, detail: str) -> None:
        self.sim.violation(invariant, detail)

    async def after_step(self) -> None:
        quota = self.sim.nodes["quota"]
        if quota.dirty:
            quota.dirty = False
            await self.replay.check()

    async def at_end(self) -> None:
        await self.replay.check()
        for check in AT_END:
            await check(self)

    async def coverage(self) -> Counter[str]:
        return await coverage.coverage(self)
