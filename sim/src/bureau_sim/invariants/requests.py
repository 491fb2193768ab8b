"""Every request answered, taking effect exactly once, its user told the
answer of that effect."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING

from bureau_sim.client import Op

if TYPE_CHECKING:
    from bureau_sim.invariants import Invariants


async def requests_once(inv: Invariants) -> None:
    by_node: dict[str, list[Op]] = defaultdict(list)
    for op in inv.client.ops:
        by_node[op.node].append(op)
    for node, ops in by_node.items():
        effects = Counter(
            (r[0], r[1])
            for r in await inv.sim.read(
                node, "SELECT request_id, action FROM audit_log WHERE request_id LIKE 'op-%'"
            )
        )
        for op in ops:
            if op.gave_up:
                inv.fail(
                    "every request answered",
                    f"{op.id} {op.method} {op.path} got no answer in {op.attempts} attempts "
                    f"({op.answers})",
                )
            if op.effect is None:
                continue
            n = effects.get((op.id, op.effect), 0)
            what = f"{op.id} {op.method} {op.path} ({op.effect})"
            if n > 1:
                inv.fail("every request took effect once", f"{what} took effect {n} times")
            r = op.response
            if r is None:
                continue
            replayed = isinstance(r.body, dict) and r.body.get("replayed") is True
            if r.ok and n == 0 and not replayed:
                inv.fail(
                    "every request took effect once",
                    f"{what} was answered {r.status} but left no trace",
                )
            if n == 1 and not r.ok:
                inv.fail(
                    "every request took effect once",
                    f"{what} took effect, but its user was answered {r.status} "
                    f"after {op.attempts} attempts ({op.answers}): "
                    f"{str(r.body)[:200]}",
                )
