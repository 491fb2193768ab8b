"""Every state change has its audit entry: each service's records counted
against its audit trail."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

from bureau_sim.invariants.common import PERMIT_STEPS, as_dict

if TYPE_CHECKING:
    from bureau_sim.invariants import Invariants


async def _actions(inv: Invariants, node: str) -> list[tuple[str, str, str, Any]]:
    return [
        (str(a), str(t), str(i), d)
        for a, t, i, d in await inv.sim.read(
            node, "SELECT action, target_type, target_id, detail FROM audit_log ORDER BY id"
        )
    ]


async def permit_trail(inv: Invariants) -> None:
    read = inv.sim.read
    permit_audit = await _actions(inv, "permit")
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
            imported += int(as_dict(detail).get("created", 0))
        elif action == "enterprise.import":
            created_enterprises += int(as_dict(detail).get("created", 0))
        elif action == "registration.file_many":
            regs_many += int(as_dict(detail).get("created", 0))
    permits = await read("permit", "SELECT id, version FROM permits")
    not_applied = 0
    for pid, version in permits:
        if steps[pid] != version - 1:
            inv.fail(
                "every state change has its audit entry",
                f"permit {pid} is at version {version} with {steps[pid]} audited steps",
            )
        if pid not in applied:
            not_applied += 1
    if not_applied != imported:
        inv.fail(
            "every state change has its audit entry",
            f"{not_applied} permits have no application audited; imports created {imported}",
        )
    (n_ent,) = (await read("permit", "SELECT COUNT(*) FROM enterprises"))[0]
    if n_ent != created_enterprises + counts["enterprise.create"]:
        inv.fail(
            "every state change has its audit entry",
            f"{n_ent} enterprises; audited: {created_enterprises} imported, "
            f"{counts['enterprise.create']} created",
        )
    regs = Counter(r[0] for r in await read("permit", "SELECT status FROM registrations"))
    if sum(regs.values()) != regs_many + counts["registration.file"]:
        inv.fail(
            "every state change has its audit entry",
            f"{sum(regs.values())} registrations; audited {regs_many} in bulk and "
            f"{counts['registration.file']} one by one",
        )
    for status, action in (
        ("expired", "registration.expire"),
        ("cancelled", "registration.cancel"),
    ):
        if regs[status] != counts[action]:
            inv.fail(
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
            inv.fail(
                "every state change has its audit entry",
                f"{n} rows in {table}{where}, {counts[action]} {action}",
            )


async def eia_trail(inv: Invariants) -> None:
    read = inv.sim.read
    eia_audit = await _actions(inv, "eia")
    by_filing: dict[str, list[str]] = defaultdict(list)
    forms = 0
    ecounts: Counter[str] = Counter()
    for action, target_type, target, detail in eia_audit:
        ecounts[action] += 1
        if target_type == "filing":
            by_filing[target].append(action)
        elif action == "registration.bulk_file":
            forms += int(as_dict(detail).get("filed", 0))
    for fid, status, q, _inc, _res, _al, _u, attempt, _ch in await read(
        "eia",
        "SELECT id, status, quota_status, vocs_increment_kg, reservation_id,"
        " quota_allocated_kg, uscc, quota_attempt, channel FROM filings",
    ):
        trail = by_filing.get(fid, [])
        where = f"filing {fid} ({status}, quota {q})"
        if trail.count("filing.create") != 1:
            inv.fail(
                "every state change has its audit entry",
                f"{where}: {trail.count('filing.create')} creations audited",
            )
        decision = {
            "approved": "filing.approve",
            "rejected": "filing.reject",
            "withdrawn": "filing.withdraw",
        }
        if status in decision and trail.count(decision[status]) != 1:
            inv.fail(
                "every state change has its audit entry",
                f"{where}: decision audited {trail.count(decision[status])} times",
            )
        quota_trail = [a for a in trail if a.startswith("filing.quota_")]
        if quota_trail and quota_trail[-1] != f"filing.quota_{q}":
            inv.fail(
                "every state change has its audit entry",
                f"{where}: last quota change audited is {quota_trail[-1]}",
            )
        if attempt and trail.count("filing.quota-retry") != attempt - 1:
            inv.fail(
                "every state change has its audit entry",
                f"{where}: attempt {attempt}, {trail.count('filing.quota-retry')} retries audited",
            )
    (n_forms,) = (await read("eia", "SELECT COUNT(*) FROM registrations"))[0]
    if n_forms != forms + ecounts["registration.file"]:
        inv.fail(
            "every state change has its audit entry",
            f"{n_forms} registration forms; audited {forms} in bulk, "
            f"{ecounts['registration.file']} one by one",
        )
    (n_parks,) = (await read("eia", "SELECT COUNT(*) FROM parks"))[0]
    if n_parks != ecounts["park.register"]:
        inv.fail(
            "every state change has its audit entry",
            f"{n_parks} parks, {ecounts['park.register']} audited",
        )


async def quota_trail(inv: Invariants) -> None:
    read = inv.sim.read
    quota_audit = await _actions(inv, "quota")
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
            inv.fail(
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
            inv.fail(
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
        inv.fail(
            "every state change has its audit entry",
            f"{entries['baseline']} baseline entries, {pairs['baseline']} audited",
        )
    credits = entries["reclaim_credit"] + entries["reduction_credit"]
    if credits != pairs["reclaim_credit+reduction_credit"]:
        inv.fail(
            "every state change has its audit entry",
            f"{credits} reclaim credits, {qcounts['quota.reclaim.confirm']} confirmations audited",
        )
    (n_pol,) = (await read("quota", "SELECT COUNT(*) FROM district_settings"))[0]
    if n_pol != qcounts["quota.settings.set"]:
        inv.fail(
            "every state change has its audit entry",
            f"{n_pol} district settings, {qcounts['quota.settings.set']} audited",
        )
