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
carved once); every request took effect exactly once and its user got the
answer of that effect; every state change has its audit entry.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

from quota_svc.pollutants.rules import POLLUTANTS

from bureau_sim.client import Actor, Client, Op
from bureau_sim.world import Sim

DECIDED = ("approved", "rejected", "withdrawn")
PERMIT_CATEGORIES = ("key", "simplified")
#: The pollutants quota-svc keeps pools of (a closure frees a candidate of each).
KEPT_POLLUTANTS = frozenset(POLLUTANTS)
RECLAIMABLE = ("closure", "process_closed", "other")
#: Entry code -> (credited, reserved, allocated) sign of its amount.
DELTAS = {
    "baseline": (1, 0, 0),
    "reclaim_credit": (1, 0, 0),
    "reduction_credit": (1, 0, 0),
    "transfer": (1, 0, 0),
    "adjustment": (1, 0, 0),
    "reserve": (0, 1, 0),
    "allocate": (0, -1, 1),
    "release": (0, -1, 0),
    "expire": (0, -1, 0),
    "advance": (1, 0, 0),
    "repay": (-1, 0, 0),
    "swap_in": (1, 0, 0),
    "swap_out": (-1, -1, 0),
    "trade_in": (1, 0, 1),
    "trade_out": (-1, 0, -1),
}
PERMIT_STEPS = (
    "permit.issue",
    "permit.change",
    "permit.renew",
    "permit.suspend",
    "permit.reinstate",
    "permit.revoke",
    "permit.cancel",
    "permit.expire",
)


def _json(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        loaded = json.loads(value)
        return loaded if isinstance(loaded, dict) else {}
    return dict(value)


class Invariants:
    def __init__(self, sim: Sim, client: Client) -> None:
        self.sim = sim
        self.client = client
        self.auditor = Actor("auditor.sim", "auditor")
        self.last_entry = 0
        self.running: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        self.credits: Counter[str] = Counter()

    def fail(self, invariant: str, detail: str) -> None:
        self.sim.violation(invariant, detail)

    # --- after every step -----------------------------------------------------------
    async def after_step(self) -> None:
        quota = self.sim.nodes["quota"]
        if quota.dirty:
            quota.dirty = False
            await self.ledger()

    async def ledger(self) -> None:
        read = self.sim.read
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
                self.fail(
                    "journal replays to every balance", f"entry {eid} has unknown code {code}"
                )
                continue
            bal = self.running[pool]
            for i in range(3):
                bal[i] += sign[i] * amount
            if sign[0]:
                self.credits[district] += sign[0] * amount
            if bal != [c, r, a]:
                self.fail(
                    "journal replays to every balance",
                    f"entry {eid} ({code} {amount} kg on {pool}) says {c}/{r}/{a} after it, "
                    f"the replay gives {bal[0]}/{bal[1]}/{bal[2]} (credited/reserved/allocated)",
                )
                bal[:] = [c, r, a]
            if min(c, r, a, c - r - a) < 0:
                self.fail("no pool below zero", f"entry {eid} leaves {pool} at {c}/{r}/{a}")
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
                self.fail(
                    "journal replays to every balance",
                    f"pool {pool} stores {c}/{r}/{a}, its journal replays to "
                    f"{self.running.get(pool, [0, 0, 0])}",
                )
            if min(c, r, a, c - r - a) < 0:
                self.fail("no pool below zero", f"pool {pool} is at {c}/{r}/{a}")
            if r != held[pool][0] or a != held[pool][1]:
                self.fail(
                    "conservation per pool",
                    f"pool {pool} has {r} kg reserved and {a} kg allocated; its reservations "
                    f"hold {held[pool][0]} kg and were allocated {held[pool][1]} kg",
                )
        for district, credited in by_district.items():
            if credited != self.credits[district]:
                self.fail(
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
            self.fail(
                "no hold below zero",
                f"reservation {rid} ({status}) held {h}, allocated {al}, released {rel}",
            )

    # --- at the end ------------------------------------------------------------------
    async def at_end(self) -> None:
        await self.ledger()
        await self.ledger_checks_pass()
        await self.drained()
        await self.sagas_and_agreement()
        await self.supervision_agrees()
        await self.requests_once()
        await self.audit_trail()

    async def ledger_checks_pass(self) -> None:
        """quota-svc's own reconciliation (its numbered business checks and
        its replay of every pool), asked as an auditor would."""
        op = self.client.op("quota", "GET", "/quota/reconciliation", self.auditor)
        r = await self.client.attempt(op)
        if r is None or r.status != 200:
            self.fail("the ledger's own checks pass", f"reconciliation answered {op.answers}")
            return
        if r.body.get("ok") is not True:
            failed = [c for c in r.body.get("checks", []) if not c.get("ok", True)]
            pools = [p["pool_id"] for p in r.body.get("pools", []) if not p.get("ok", True)]
            self.fail(
                "the ledger's own checks pass",
                f"failed checks {str(failed)[:400]}; pools that do not replay {pools[:5]}",
            )

    async def coverage(self) -> Counter[str]:
        """What the city-year did, from the services' own records."""
        out: Counter[str] = Counter()
        for node in sorted(self.sim.nodes):
            for action, n in await self.sim.read(
                node, "SELECT action, COUNT(*) FROM audit_log GROUP BY action"
            ):
                out[f"{node}: {action}"] += int(n)
        for channel, status, q, n in await self.sim.read(
            "eia",
            "SELECT channel, status, quota_status, COUNT(*) FROM filings"
            " GROUP BY channel, status, quota_status",
        ):
            out[f"filings {channel} {status}, quota {q}"] += int(n)
        for status, reason, n in await self.sim.read(
            "quota",
            "SELECT status, release_reason, COUNT(*) FROM reservations"
            " GROUP BY status, release_reason",
        ):
            out[f"reservations {status}" + (f" ({reason})" if reason else "")] += int(n)
        return out

    async def drained(self) -> None:
        for name in sorted(self.sim.nodes):
            (n,) = (await self.sim.read(name, "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL"))[
                0
            ]
            if n:
                self.fail("no outbox row unsent after drain", f"{name} has {n} unsent outbox rows")
        backlog = self.sim.broker.backlog()
        if backlog:
            self.fail(
                "every event consumed after drain", f"{backlog} messages not applied by a consumer"
            )

    async def sagas_and_agreement(self) -> None:
        read = self.sim.read
        filings = {
            r[0]: r
            for r in await read(
                "eia",
                "SELECT id, status, quota_status, vocs_increment_kg, reservation_id,"
                " quota_allocated_kg, uscc, quota_attempt, channel FROM filings",
            )
        }
        reservations = await read(
            "quota",
            "SELECT id, project_ref, status, held_kg, allocated_kg FROM reservations",
        )
        by_filing: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        for r in reservations:
            if str(r[1]).startswith("eia:"):
                by_filing[str(r[1])[4:]].append(r)
        for fid, (_, status, q, inc, res_id, alloc_kg, _u, _a, _c) in filings.items():
            mine = by_filing.get(fid, [])
            held = [r for r in mine if r[2] == "held"]
            allocated = [r for r in mine if r[2] == "allocated"]
            where = f"filing {fid} ({status}, quota {q})"
            if q == "pending":
                self.fail(
                    "every saga reaches a final state",
                    f"{where} still waits for quota-svc's answer",
                )
            if held and (status in DECIDED or q != "secured" or held[0][0] != res_id):
                self.fail(
                    "holds = secured filings",
                    f"{where}: quota-svc holds {held[0][0]} for it"
                    + (f" but the filing names {res_id}" if res_id != held[0][0] else ""),
                )
            if q == "secured" and not held:
                self.fail("holds = secured filings", f"{where}: quota-svc holds nothing for it")
            if status == "approved" and inc > 0 and (q != "allocated" or not allocated):
                self.fail(
                    "allocations = approved filings",
                    f"{where}: {len(allocated)} allocation(s) in quota-svc",
                )
            if allocated and (status != "approved" or allocated[0][4] != alloc_kg):
                self.fail(
                    "allocations = approved filings",
                    f"{where}: quota-svc allocated {allocated[0][4]} kg, "
                    f"the filing says {alloc_kg}",
                )
        for fid in by_filing:
            if fid not in filings:
                self.fail("holds = secured filings", f"quota-svc holds for an unknown filing {fid}")

        # What permit-svc learned of allocations, and the drafts it made.
        learned = {
            r[0]: r[1]
            for r in await read("permit", "SELECT reservation_id, amount_kg FROM quota_allocations")
        }
        allocated_all = {r[0]: r[4] for r in reservations if r[2] == "allocated"}
        if learned != allocated_all:
            missing = sorted(set(allocated_all) - set(learned))[:3]
            extra = sorted(set(learned) - set(allocated_all))[:3]
            wrong = [
                k for k in set(learned) & set(allocated_all) if learned[k] != allocated_all[k]
            ][:3]
            self.fail(
                "allocations = approved filings",
                f"permit-svc knows {len(learned)} allocations, quota-svc made {len(allocated_all)}"
                f" (missing {missing}, unknown {extra}, different amounts {wrong})",
            )
        categories = dict(await read("permit", "SELECT uscc, category FROM enterprises"))
        drafts = Counter(
            r[0]
            for r in await read(
                "permit", "SELECT source_filing_id FROM permits WHERE source_filing_id IS NOT NULL"
            )
        )
        for fid, row in filings.items():
            needs = row[1] == "approved" and categories.get(row[6]) in PERMIT_CATEGORIES
            if drafts.get(fid, 0) != (1 if needs else 0):
                self.fail(
                    "permit drafts = approved filings needing a permit",
                    f"filing {fid} ({row[1]}, enterprise {categories.get(row[6])}) has "
                    f"{drafts.get(fid, 0)} permit drafts",
                )
        for fid in drafts:
            if fid not in filings:
                self.fail(
                    "permit drafts = approved filings needing a permit",
                    f"a draft for unknown filing {fid}",
                )

        # Reclaim candidates: one per pollutant the ledger keeps that a closure
        # frees, one per VOCs decrease (the workload changes VOCs only).
        candidates = await read(
            "quota",
            "SELECT permit_id, pollutant, source, amount_kg FROM reclaims"
            " WHERE permit_id IS NOT NULL",
        )
        freed: dict[tuple[str, str], int] = {}
        for pid, pollutants in await read(
            "permit",
            "SELECT id, pollutants FROM permits WHERE status = 'cancelled'"
            " AND cancel_reason IN ('closure', 'process_closed', 'other')",
        ):
            for pollutant, kg in _json(pollutants).items():
                if pollutant in KEPT_POLLUTANTS and int(kg) > 0:
                    freed[(str(pid), pollutant)] = int(kg)
        from_cancel: dict[tuple[str, str], list[int]] = defaultdict(list)
        decreases_seen: dict[str, list[int]] = defaultdict(list)
        for pid, pollutant, source, amount in candidates:
            if source == "permit_cancelled":
                from_cancel[(str(pid), str(pollutant))].append(int(amount))
            elif source == "permit_changed" and pollutant == "VOCs":
                decreases_seen[str(pid)].append(int(amount))
        for key in set(freed) | set(from_cancel):
            if from_cancel.get(key) != ([freed[key]] if key in freed else None):
                self.fail(
                    "reclaim candidates = closures",
                    f"permit {key[0]} cancelled frees {freed.get(key)} kg of {key[1]}; "
                    f"candidates: {from_cancel.get(key)}",
                )
        decreases: dict[str, list[int]] = defaultdict(list)
        for target, detail in await read(
            "permit", "SELECT target_id, detail FROM audit_log WHERE action = 'permit.change'"
        ):
            delta = int(_json(detail).get("vocs_delta_kg", 0))
            if delta < 0:
                decreases[target].append(-delta)
        for pid in set(decreases) | set(decreases_seen):
            if sorted(decreases.get(pid, [])) != sorted(decreases_seen.get(pid, [])):
                self.fail(
                    "reclaim candidates = closures",
                    f"permit {pid} decreased VOCs by {decreases.get(pid)} kg; "
                    f"candidates: {decreases_seen.get(pid)}",
                )

        # Each park's sub-pool is carved once.
        parks = await read("eia", "SELECT id, district FROM parks")
        carved = Counter(
            r[0]
            for r in await read(
                "quota", "SELECT target_id FROM audit_log WHERE action = 'quota.park.subpool'"
            )
        )
        for pid, district in parks:
            pool = f"{district}:VOCs:park:{pid}"
            if carved.get(pool, 0) != 1:
                self.fail(
                    "parks carved once",
                    f"park {pid}'s sub-pool was handled {carved.get(pool, 0)} times",
                )

    async def supervision_agrees(self) -> None:
        """supervision-svc's register is what permit-svc announced, and every
        approved suspension reached permit-svc once."""
        read = self.sim.read
        theirs = {
            r[0]: r[1:]
            for r in await read(
                "supervision", "SELECT uscc, district, category, operating_status FROM enterprises"
            )
        }
        for uscc, *ours in await read(
            "permit", "SELECT uscc, district, category, operating_status FROM enterprises"
        ):
            if theirs.get(uscc) != tuple(ours):
                self.fail(
                    "supervision-svc knows the register",
                    f"enterprise {uscc} is {tuple(ours)} in permit-svc, "
                    f"{theirs.get(uscc)} in supervision-svc",
                )
        their_permits = {
            r[0]: r[1:]
            for r in await read("supervision", "SELECT permit_id, status, vocs_kg FROM permits")
        }
        for pid, status, vocs in await read(
            "permit", "SELECT id, status, vocs_kg FROM permits WHERE permit_no IS NOT NULL"
        ):
            if their_permits.get(pid) != (status, vocs):
                self.fail(
                    "supervision-svc knows the register",
                    f"permit {pid} is {status} with {vocs} kg VOCs in permit-svc, "
                    f"{their_permits.get(pid)} in supervision-svc",
                )
        outcomes: Counter[str] = Counter()
        for (detail,) in await read(
            "permit",
            "SELECT detail FROM audit_log"
            " WHERE action IN ('permit.suspend', 'permit.suspend_not_applied')",
        ):
            case = _json(detail).get("case_id")
            if case:
                outcomes[str(case)] += 1
        for case_id, case_no in await read(
            "supervision",
            "SELECT id, case_no FROM enforcement_cases"
            " WHERE measure = 'permit_suspension' AND status IN ('decided', 'closed')",
        ):
            if outcomes.get(case_id, 0) != 1:
                self.fail(
                    "suspensions = approved suspension cases",
                    f"case {case_no} decided a suspension; permit-svc acted on it "
                    f"{outcomes.get(case_id, 0)} times",
                )

    async def requests_once(self) -> None:
        by_node: dict[str, list[Op]] = defaultdict(list)
        for op in self.client.ops:
            by_node[op.node].append(op)
        for node, ops in by_node.items():
            effects = Counter(
                (r[0], r[1])
                for r in await self.sim.read(
                    node, "SELECT request_id, action FROM audit_log WHERE request_id LIKE 'op-%'"
                )
            )
            for op in ops:
                if op.gave_up:
                    self.fail(
                        "every request answered",
                        f"{op.id} {op.method} {op.path} got no answer in {op.attempts} attempts "
                        f"({op.answers})",
                    )
                if op.effect is None:
                    continue
                n = effects.get((op.id, op.effect), 0)
                what = f"{op.id} {op.method} {op.path} ({op.effect})"
                if n > 1:
                    self.fail("every request took effect once", f"{what} took effect {n} times")
                r = op.response
                if r is None:
                    continue
                replayed = isinstance(r.body, dict) and r.body.get("replayed") is True
                if r.ok and n == 0 and not replayed:
                    self.fail(
                        "every request took effect once",
                        f"{what} was answered {r.status} but left no trace",
                    )
                if n == 1 and not r.ok:
                    self.fail(
                        "every request took effect once",
                        f"{what} took effect, but its user was answered {r.status} "
                        f"after {op.attempts} attempts ({op.answers}): "
                        f"{str(r.body)[:200]}",
                    )

    async def audit_trail(self) -> None:
        read = self.sim.read

        async def actions(node: str) -> list[tuple[str, str, str, Any]]:
            return [
                (str(a), str(t), str(i), d)
                for a, t, i, d in await read(
                    node, "SELECT action, target_type, target_id, detail FROM audit_log ORDER BY id"
                )
            ]

        permit_audit = await actions("permit")
        steps: Counter[str] = Counter()
        applied: set[str] = set()
        imported = created_enterprises = regs_many = 0
        counts: Counter[str] = Counter()
        for action, _t, target, detail in permit_audit:
            counts[action] += 1
            if action in PERMIT_STEPS:
                steps[target] += 1
            elif action == "permit.apply":
                applied.add(target)
            elif action == "permit.import":
                imported += int(_json(detail).get("created", 0))
            elif action == "enterprise.import":
                created_enterprises += int(_json(detail).get("created", 0))
            elif action == "registration.file_many":
                regs_many += int(_json(detail).get("created", 0))
        permits = await read("permit", "SELECT id, version FROM permits")
        not_applied = 0
        for pid, version in permits:
            if steps[pid] != version - 1:
                self.fail(
                    "every state change has its audit entry",
                    f"permit {pid} is at version {version} with {steps[pid]} audited steps",
                )
            if pid not in applied:
                not_applied += 1
        if not_applied != imported:
            self.fail(
                "every state change has its audit entry",
                f"{not_applied} permits have no application audited; imports created {imported}",
            )
        (n_ent,) = (await read("permit", "SELECT COUNT(*) FROM enterprises"))[0]
        if n_ent != created_enterprises + counts["enterprise.create"]:
            self.fail(
                "every state change has its audit entry",
                f"{n_ent} enterprises; audited: {created_enterprises} imported, "
                f"{counts['enterprise.create']} created",
            )
        regs = Counter(r[0] for r in await read("permit", "SELECT status FROM registrations"))
        if sum(regs.values()) != regs_many + counts["registration.file"]:
            self.fail(
                "every state change has its audit entry",
                f"{sum(regs.values())} registrations; audited {regs_many} in bulk and "
                f"{counts['registration.file']} one by one",
            )
        for status, action in (
            ("expired", "registration.expire"),
            ("cancelled", "registration.cancel"),
        ):
            if regs[status] != counts[action]:
                self.fail(
                    "every state change has its audit entry",
                    f"{regs[status]} registrations {status}, {counts[action]} audited",
                )
        for table, action, where in (
            ("permit_audits", "permit.audit", ""),
            ("audit_findings", "finding.rectify", " WHERE status = 'rectified'"),
            ("quota_allocations", "quota.allocation_learned", ""),
        ):
            (n,) = (await read("permit", f"SELECT COUNT(*) FROM {table}{where}"))[0]
            if n != counts[action]:
                self.fail(
                    "every state change has its audit entry",
                    f"{n} rows in {table}{where}, {counts[action]} {action}",
                )

        # eia-svc
        eia_audit = await actions("eia")
        by_filing: dict[str, list[str]] = defaultdict(list)
        forms = 0
        ecounts: Counter[str] = Counter()
        for action, target_type, target, detail in eia_audit:
            ecounts[action] += 1
            if target_type == "filing":
                by_filing[target].append(action)
            elif action == "registration.bulk_file":
                forms += int(_json(detail).get("filed", 0))
        for fid, status, q, _inc, _res, _al, _u, attempt, _ch in await read(
            "eia",
            "SELECT id, status, quota_status, vocs_increment_kg, reservation_id,"
            " quota_allocated_kg, uscc, quota_attempt, channel FROM filings",
        ):
            trail = by_filing.get(fid, [])
            where = f"filing {fid} ({status}, quota {q})"
            if trail.count("filing.create") != 1:
                self.fail(
                    "every state change has its audit entry",
                    f"{where}: {trail.count('filing.create')} creations audited",
                )
            decision = {
                "approved": "filing.approve",
                "rejected": "filing.reject",
                "withdrawn": "filing.withdraw",
            }
            if status in decision and trail.count(decision[status]) != 1:
                self.fail(
                    "every state change has its audit entry",
                    f"{where}: decision audited {trail.count(decision[status])} times",
                )
            quota_trail = [a for a in trail if a.startswith("filing.quota_")]
            if quota_trail and quota_trail[-1] != f"filing.quota_{q}":
                self.fail(
                    "every state change has its audit entry",
                    f"{where}: last quota change audited is {quota_trail[-1]}",
                )
            if attempt and trail.count("filing.quota-retry") != attempt - 1:
                self.fail(
                    "every state change has its audit entry",
                    f"{where}: attempt {attempt}, "
                    f"{trail.count('filing.quota-retry')} retries audited",
                )
        (n_forms,) = (await read("eia", "SELECT COUNT(*) FROM registrations"))[0]
        if n_forms != forms + ecounts["registration.file"]:
            self.fail(
                "every state change has its audit entry",
                f"{n_forms} registration forms; audited {forms} in bulk, "
                f"{ecounts['registration.file']} one by one",
            )
        (n_parks,) = (await read("eia", "SELECT COUNT(*) FROM parks"))[0]
        if n_parks != ecounts["park.register"]:
            self.fail(
                "every state change has its audit entry",
                f"{n_parks} parks, {ecounts['park.register']} audited",
            )

        # quota-svc
        quota_audit = await actions("quota")
        by_target: dict[str, Counter[str]] = defaultdict(Counter)
        qcounts: Counter[str] = Counter()
        for action, _t, target, _d in quota_audit:
            by_target[target][action] += 1
            qcounts[action] += 1
        resolution = {
            "allocated": "quota.allocate",
            "released": "quota.release",
            "expired": "quota.expire",
        }
        for rid, status in await read("quota", "SELECT id, status FROM reservations"):
            trail_c = by_target.get(rid, Counter())
            ok = trail_c["quota.reserve"] == 1 and (
                status == "held" or trail_c[resolution[status]] == 1
            )
            if not ok:
                self.fail(
                    "every state change has its audit entry",
                    f"reservation {rid} ({status}) audited {dict(trail_c)}",
                )
        for rid, status, source in await read("quota", "SELECT id, status, source FROM reclaims"):
            trail_c = by_target.get(rid, Counter())
            need = {
                "pending": None,
                "confirmed": "quota.reclaim.confirm",
                "rejected": "quota.reclaim.reject",
            }[status]
            if trail_c["quota.reclaim.candidate"] != 1 or (need and trail_c[need] != 1):
                self.fail(
                    "every state change has its audit entry",
                    f"reclaim {rid} ({status}, {source}) audited {dict(trail_c)}",
                )
        entries = Counter(
            r[0]
            for r in await read(
                "quota", "SELECT code FROM journal_entries WHERE reservation_id IS NULL"
            )
        )
        pairs = {
            "baseline": qcounts["quota.baseline"],
            "reclaim_credit+reduction_credit": qcounts["quota.reclaim.confirm"],
        }
        if entries["baseline"] != pairs["baseline"]:
            self.fail(
                "every state change has its audit entry",
                f"{entries['baseline']} baseline entries, {pairs['baseline']} audited",
            )
        credits = entries["reclaim_credit"] + entries["reduction_credit"]
        if credits != pairs["reclaim_credit+reduction_credit"]:
            self.fail(
                "every state change has its audit entry",
                f"{credits} reclaim credits, "
                f"{qcounts['quota.reclaim.confirm']} confirmations audited",
            )
        (n_pol,) = (await read("quota", "SELECT COUNT(*) FROM district_settings"))[0]
        if n_pol != qcounts["quota.settings.set"]:
            self.fail(
                "every state change has its audit entry",
                f"{n_pol} district settings, {qcounts['quota.settings.set']} audited",
            )
