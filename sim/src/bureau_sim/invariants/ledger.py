"""The quota ledger: replayed entry by entry after every step, and asked to
run its own numbered checks at the end."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING

from bureau_sim.invariants.common import DELTAS

if TYPE_CHECKING:
    from bureau_sim.invariants import Invariants


class LedgerReplay:
    """The journal replayed incrementally: per pool the running balance,
    per district what its pools were credited."""

    def __init__(self, inv: Invariants) -> None:
        self.inv = inv
        self.last_entry = 0
        self.running: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        self.credits: Counter[str] = Counter()

    async def check(self) -> None:
        """Replay the journal entries written since the last check."""
        read = self.inv.sim.read
        entries = await read(
            "quota",
            "SELECT id, pool_id, district, code, amount_kg, credited_after_kg, reserved_after_kg,"
            " allocated_after_kg FROM journal_entries WHERE id > ? ORDER BY id",
            self.last_entry,
        )
        for eid, pool, district, code, amount, c, r, a in entries:
            self.last_entry = eid
            sign = DELTAS.get(code)
            if sign is None:
                self.inv.fail(
                    "journal replays to every balance", f"entry {eid} has unknown code {code}"
                )
                continue
            bal = self.running[pool]
            for i in range(3):
                bal[i] += sign[i] * amount
            if sign[0]:
                self.credits[district] += sign[0] * amount
            if bal != [c, r, a]:
                self.inv.fail(
                    "journal replays to every balance",
                    f"entry {eid} ({code} {amount} kg on {pool}) says {c}/{r}/{a} after it, "
                    f"the replay gives {bal[0]}/{bal[1]}/{bal[2]} (credited/reserved/allocated)",
                )
                bal[:] = [c, r, a]
            if min(c, r, a, c - r - a) < 0:
                self.inv.fail("no pool below zero", f"entry {eid} leaves {pool} at {c}/{r}/{a}")
        pools = await read(
            "quota", "SELECT id, district, credited_kg, reserved_kg, allocated_kg FROM pools"
        )
        held: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for pool, status, h, al in await read(
            "quota",
            "SELECT pool_id, status, SUM(held_kg), SUM(allocated_kg) FROM reservations"
            " GROUP BY pool_id, status",
        ):
            if status == "held":
                held[pool][0] += int(h)
            elif status == "allocated":
                held[pool][1] += int(al)
        by_district: Counter[str] = Counter()
        for pool, district, c, r, a in pools:
            by_district[district] += c
            if [c, r, a] != self.running.get(pool, [0, 0, 0]):
                self.inv.fail(
                    "journal replays to every balance",
                    f"pool {pool} stores {c}/{r}/{a}, its journal replays to "
                    f"{self.running.get(pool, [0, 0, 0])}",
                )
            if min(c, r, a, c - r - a) < 0:
                self.inv.fail("no pool below zero", f"pool {pool} is at {c}/{r}/{a}")
            if r != held[pool][0] or a != held[pool][1]:
                self.inv.fail(
                    "conservation per pool",
                    f"pool {pool} has {r} kg reserved and {a} kg allocated; its reservations "
                    f"hold {held[pool][0]} kg and were allocated {held[pool][1]} kg",
                )
        for district, credited in by_district.items():
            if credited != self.credits[district]:
                self.inv.fail(
                    "conservation per pool",
                    f"district {district}'s pools (sub-pools included) are credited {credited} kg, "
                    f"its credit entries add up to {self.credits[district]} kg",
                )
        negative = await read(
            "quota",
            "SELECT id, held_kg, allocated_kg, released_kg, status FROM reservations"
            " WHERE held_kg < 0 OR allocated_kg < 0 OR released_kg < 0"
            " OR (status <> 'held' AND allocated_kg + released_kg <> held_kg)",
        )
        for rid, h, al, rel, status in negative:
            self.inv.fail(
                "no hold below zero",
                f"reservation {rid} ({status}) held {h}, allocated {al}, released {rel}",
            )


async def ledger_checks_pass(inv: Invariants) -> None:
    """quota-svc's own reconciliation (its numbered business checks and
    its replay of every pool), asked as an auditor would."""
    op = inv.client.op("quota", "GET", "/quota/reconciliation", inv.auditor)
    r = await inv.client.attempt(op)
    if r is None or r.status != 200:
        inv.fail("the ledger's own checks pass", f"reconciliation answered {op.answers}")
        return
    if r.body.get("ok") is not True:
        failed = [c for c in r.body.get("checks", []) if not c.get("ok", True)]
        pools = [p["pool_id"] for p in r.body.get("pools", []) if not p.get("ok", True)]
        inv.fail(
            "the ledger's own checks pass",
            f"failed checks {str(failed)[:400]}; pools that do not replay {pools[:5]}",
        )
