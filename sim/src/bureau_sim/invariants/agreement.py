"""The services agree once the sagas have settled: nothing left in flight,
every saga final, each service's view of the others' facts equal to them."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

from svc_common.auth import same_person

from bureau_sim.invariants.common import DECIDED, KEPT_POLLUTANTS, PERMIT_CATEGORIES, as_dict

if TYPE_CHECKING:
    from bureau_sim.invariants import Invariants

Row = tuple[Any, ...]


async def drained(inv: Invariants) -> None:
    for name in sorted(inv.sim.nodes):
        (n,) = (await inv.sim.read(name, "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL"))[0]
        if n:
            inv.fail("no outbox row unsent after drain", f"{name} has {n} unsent outbox rows")
    backlog = inv.sim.broker.backlog()
    if backlog:
        inv.fail(
            "every event consumed after drain",
            f"{backlog} messages not applied by a consumer: "
            + "; ".join(inv.sim.broker.unconsumed()[:5]),
        )


async def _filings(inv: Invariants) -> dict[str, Row]:
    return {
        r[0]: r
        for r in await inv.sim.read(
            "eia",
            "SELECT id, status, quota_status, vocs_increment_kg, reservation_id,"
            " quota_allocated_kg, uscc, quota_attempt, channel FROM filings",
        )
    }


async def _reservations(inv: Invariants) -> list[Row]:
    return await inv.sim.read(
        "quota", "SELECT id, project_ref, status, held_kg, allocated_kg FROM reservations"
    )


async def sagas(inv: Invariants) -> None:
    """Every filing's quota saga final, and quota-svc's holds and allocations
    what the filings say."""
    filings = await _filings(inv)
    reservations = await _reservations(inv)
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
            inv.fail(
                "every saga reaches a final state",
                f"{where} still waits for quota-svc's answer",
            )
        if held and (status in DECIDED or q != "secured" or held[0][0] != res_id):
            inv.fail(
                "holds = secured filings",
                f"{where}: quota-svc holds {held[0][0]} for it"
                + (f" but the filing names {res_id}" if res_id != held[0][0] else ""),
            )
        if q == "secured" and not held:
            inv.fail("holds = secured filings", f"{where}: quota-svc holds nothing for it")
        if q == "lapsed_short" and (status != "approved" or held or allocated):
            inv.fail(
                "allocations = approved filings",
                f"{where}: lapsed short, yet quota-svc holds {len(held)} and allocated "
                f"{len(allocated)} for it",
            )
        # Lapsed short (approved, its hold expired before the allocation and
        # the district short) is visibly blocked with its reason, for an
        # officer to re-drive: not a saga that failed to converge.
        if (
            status == "approved"
            and inc > 0
            and q != "lapsed_short"
            and (q != "allocated" or not allocated)
        ):
            inv.fail(
                "allocations = approved filings",
                f"{where}: {len(allocated)} allocation(s) in quota-svc",
            )
        if allocated and (status != "approved" or allocated[0][4] != alloc_kg):
            inv.fail(
                "allocations = approved filings",
                f"{where}: quota-svc allocated {allocated[0][4]} kg, the filing says {alloc_kg}",
            )
    for fid in by_filing:
        if fid not in filings:
            inv.fail("holds = secured filings", f"quota-svc holds for an unknown filing {fid}")


async def allocations_learned(inv: Invariants) -> None:
    """permit-svc knows every allocation quota-svc made, with its amount."""
    read = inv.sim.read
    reservations = await _reservations(inv)
    learned = {
        r[0]: r[1]
        for r in await read("permit", "SELECT reservation_id, amount_kg FROM quota_allocations")
    }
    allocated_all = {r[0]: r[4] for r in reservations if r[2] == "allocated"}
    if learned != allocated_all:
        missing = sorted(set(allocated_all) - set(learned))[:3]
        extra = sorted(set(learned) - set(allocated_all))[:3]
        wrong = [k for k in set(learned) & set(allocated_all) if learned[k] != allocated_all[k]][:3]
        inv.fail(
            "allocations = approved filings",
            f"permit-svc knows {len(learned)} allocations, quota-svc made {len(allocated_all)}"
            f" (missing {missing}, unknown {extra}, different amounts {wrong})",
        )


async def permit_drafts(inv: Invariants) -> None:
    """An approved filing whose enterprise needs a permit has one draft; one
    whose enterprise permit-svc could not make (its industry not in the
    classification table) waits, parked, rather than vanishing."""
    read = inv.sim.read
    filings = await _filings(inv)
    categories = dict(await read("permit", "SELECT uscc, category FROM enterprises"))
    drafts = Counter(
        r[0]
        for r in await read(
            "permit", "SELECT source_filing_id FROM permits WHERE source_filing_id IS NOT NULL"
        )
    )
    parked = {
        r[0]
        for r in await read(
            "permit", "SELECT filing_id FROM parked_filings WHERE state = 'waiting'"
        )
    }
    for fid, row in filings.items():
        if row[1] == "approved" and row[6] not in categories and fid not in parked:
            inv.fail(
                "approved filings drafted or parked",
                f"filing {fid} is approved, its enterprise unknown to permit-svc, and not parked",
            )
        needs = row[1] == "approved" and categories.get(row[6]) in PERMIT_CATEGORIES
        if drafts.get(fid, 0) != (1 if needs else 0):
            inv.fail(
                "permit drafts = approved filings needing a permit",
                f"filing {fid} ({row[1]}, enterprise {categories.get(row[6])}) has "
                f"{drafts.get(fid, 0)} permit drafts",
            )
    for fid in drafts:
        if fid not in filings:
            inv.fail(
                "permit drafts = approved filings needing a permit",
                f"a draft for unknown filing {fid}",
            )


async def reclaim_candidates(inv: Invariants) -> None:
    """One candidate per pollutant the ledger keeps that a closure frees, one
    per VOCs decrease (the workload changes VOCs only)."""
    read = inv.sim.read
    candidates = await read(
        "quota",
        "SELECT permit_id, pollutant, source, amount_kg FROM reclaims WHERE permit_id IS NOT NULL",
    )
    freed: dict[tuple[str, str], int] = {}
    for pid, pollutants in await read(
        "permit",
        "SELECT id, pollutants FROM permits WHERE status = 'cancelled'"
        " AND cancel_reason IN ('closure', 'process_closed', 'other')",
    ):
        for pollutant, kg in as_dict(pollutants).items():
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
            inv.fail(
                "reclaim candidates = closures",
                f"permit {key[0]} cancelled frees {freed.get(key)} kg of {key[1]}; "
                f"candidates: {from_cancel.get(key)}",
            )
    decreases: dict[str, list[int]] = defaultdict(list)
    for target, detail in await read(
        "permit", "SELECT target_id, detail FROM audit_log WHERE action = 'permit.change'"
    ):
        delta = int(as_dict(detail).get("vocs_delta_kg", 0))
        if delta < 0:
            decreases[target].append(-delta)
    for pid in set(decreases) | set(decreases_seen):
        if sorted(decreases.get(pid, [])) != sorted(decreases_seen.get(pid, [])):
            inv.fail(
                "reclaim candidates = closures",
                f"permit {pid} decreased VOCs by {decreases.get(pid)} kg; "
                f"candidates: {decreases_seen.get(pid)}",
            )


async def reclaims_four_eyes(inv: Invariants) -> None:
    """A reclaim a permit's cancellation or cut gave rise to names the
    officer who cancelled or cut the permit as its creator, and no reclaim
    is decided by its creator (the system's own aside)."""
    read = inv.sim.read
    actors: dict[tuple[str, str], set[str]] = defaultdict(set)
    for actor, action, target, detail in await read(
        "permit",
        "SELECT actor, action, target_id, detail FROM audit_log"
        " WHERE action IN ('permit.cancel', 'permit.change')",
    ):
        if action == "permit.cancel" or int(as_dict(detail).get("vocs_delta_kg", 0)) < 0:
            actors[(str(target), str(action))].add(str(actor))
    for rid, pid, source, status, created_by, decided_by in await read(
        "quota",
        "SELECT id, permit_id, source, status, created_by, decided_by FROM reclaims",
    ):
        action = {"permit_cancelled": "permit.cancel", "permit_changed": "permit.change"}.get(
            str(source)
        )
        by = actors.get((str(pid), action or ""), set())
        if action is not None and created_by not in by:
            inv.fail(
                "reclaims four eyes",
                f"reclaim {rid} ({source} of permit {pid}) names {created_by} as its "
                f"creator; the permit's {action} was by {sorted(by)}",
            )
        if (
            status != "pending"
            and created_by != "system"
            and same_person(str(decided_by), str(created_by))
        ):
            inv.fail(
                "reclaims four eyes",
                f"reclaim {rid} ({source}) {status} by {decided_by}, who gave rise to it",
            )


async def filings_four_eyes(inv: Invariants) -> None:
    """No filing an officer (or admin) submitted for its applicant is
    decided (approved or rejected) by that same person."""
    submitted = {
        str(fid): (str(by), str(role))
        for fid, by, role in await inv.sim.read(
            "eia", "SELECT id, submitted_by, submitted_role FROM filings"
        )
    }
    for actor, action, target in await inv.sim.read(
        "eia",
        "SELECT actor, action, target_id FROM audit_log"
        " WHERE action IN ('filing.approve', 'filing.reject')",
    ):
        by, role = submitted.get(str(target), ("", "filer"))
        if role != "filer" and same_person(str(actor), by):
            inv.fail(
                "filings four eyes",
                f"filing {target} submitted by {by} ({role}) had {action} by {actor}",
            )


async def parks_carved(inv: Invariants) -> None:
    """Each park's sub-pool is carved once."""
    read = inv.sim.read
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
            inv.fail(
                "parks carved once",
                f"park {pid}'s sub-pool was handled {carved.get(pool, 0)} times",
            )


async def supervision_register(inv: Invariants) -> None:
    """supervision-svc's register is what permit-svc announced."""
    read = inv.sim.read
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
            inv.fail(
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
            inv.fail(
                "supervision-svc knows the register",
                f"permit {pid} is {status} with {vocs} kg VOCs in permit-svc, "
                f"{their_permits.get(pid)} in supervision-svc",
            )


async def suspensions(inv: Invariants) -> None:
    """Every approved suspension case reached permit-svc once."""
    read = inv.sim.read
    outcomes: Counter[str] = Counter()
    for (detail,) in await read(
        "permit",
        "SELECT detail FROM audit_log"
        " WHERE action IN ('permit.suspend', 'permit.suspend_not_applied')",
    ):
        case = as_dict(detail).get("case_id")
        if case:
            outcomes[str(case)] += 1
    for case_id, case_no in await read(
        "supervision",
        "SELECT id, case_no FROM enforcement_cases"
        " WHERE measure = 'permit_suspension' AND status IN ('decided', 'closed')",
    ):
        if outcomes.get(case_id, 0) != 1:
            inv.fail(
                "suspensions = approved suspension cases",
                f"case {case_no} decided a suspension; permit-svc acted on it "
                f"{outcomes.get(case_id, 0)} times",
            )
