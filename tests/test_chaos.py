"""The chaos suite: its bounded run against the real PostgreSQL and Kafka
(every fault, shorter: about three minutes), and its judge shown to fail on
each kind of breakage it exists to catch."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
from svc_common import testing

from bureau.chaos import checks
from bureau.chaos.client import Stats
from bureau.chaos.load import FilingRecord, World
from bureau.chaos.run import run
from bureau.chaos.settings import ChaosSettings
from bureau.stack import service_of

D = "120119"
POOL = f"{D}:VOCs"
NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
TYPES = {
    "quota": {"eia.filing.accepted.v1", "eia.filing.approved.v1"},
    "eia": {"quota.reserved.v1", "quota.allocated.v1"},
    "permit": {"eia.filing.approved.v1", "quota.allocated.v1"},
}


def consistent() -> tuple[checks.State, World, Stats]:
    """A small drained system in which every invariant holds: one filing
    approved (allocated, drafted), one secured, one direct reservation
    allocated, a manual and a closure reclaim confirmed, one baseline."""
    world = World(api=cast(Any, None), districts=(D,), rng=random.Random(1))
    world.baselines_kg[D], world.baselines[D] = 30_000, 1
    world.reclaimed_kg[D] = 3_500
    world.reclaims_confirmed = {"rc-manual", "rc-closure"}
    world.cancelled_permits = {"permit-1": D}
    world.filings = {
        "f1": FilingRecord("f1", D, 1_000, "normal", "approved"),
        "f2": FilingRecord("f2", D, 1_000, "normal", None),
    }
    world.directs = {"chaos:d1": "allocated", "chaos:d2": "refused"}

    def event(eid: str, etype: str) -> dict[str, Any]:
        return {"event_id": eid, "event_type": etype, "topic": etype[:3], "sent_at": NOW}

    st = checks.State(
        outboxes={
            "eia": [
                event("e-acc1", "eia.filing.accepted.v1"),
                event("e-acc2", "eia.filing.accepted.v1"),
                event("e-app1", "eia.filing.approved.v1"),
            ],
            "quota": [
                event("q-res1", "quota.reserved.v1"),
                event("q-res2", "quota.reserved.v1"),
                event("q-all1", "quota.allocated.v1"),
                event("q-alld", "quota.allocated.v1"),
            ],
            "permit": [],
        },
        inboxes={
            "quota": {"e-acc1", "e-acc2", "e-app1"},
            "eia": {"q-res1", "q-res2", "q-all1", "q-alld"},
            "permit": {"e-app1", "q-all1", "q-alld"},
        },
        filings=[
            {
                "id": "f1",
                "status": "approved",
                "quota_status": "allocated",
                "reservation_id": "r1",
                "quota_shortfall_kg": None,
                "quota_allocated_kg": 2_000,
                "vocs_increment_kg": 1_000,
                "quota_asks": 0,
            },
            {
                "id": "f2",
                "status": "reviewed",
                "quota_status": "secured",
                "reservation_id": "r2",
                "quota_shortfall_kg": None,
                "quota_allocated_kg": None,
                "vocs_increment_kg": 1_000,
                "quota_asks": 1,
            },
        ],
        reservations=[
            {
                "id": "r1",
                "project_ref": "eia:f1",
                "filing_id": "f1",
                "attempt": 1,
                "status": "allocated",
                "held_kg": 2_000,
                "allocated_kg": 2_000,
                "pool_id": POOL,
            },
            {
                "id": "r2",
                "project_ref": "eia:f2",
                "filing_id": "f2",
                "attempt": 1,
                "status": "held",
                "held_kg": 2_000,
                "allocated_kg": 0,
                "pool_id": POOL,
            },
            {
                "id": "rd",
                "project_ref": "chaos:d1",
                "filing_id": None,
                "attempt": 1,
                "status": "allocated",
                "held_kg": 1_000,
                "allocated_kg": 1_000,
                "pool_id": POOL,
            },
        ],
        reclaims=[
            {"id": "rc-manual", "source": "manual", "status": "confirmed", "permit_id": None},
            {
                "id": "rc-closure",
                "source": "permit_cancelled",
                "status": "confirmed",
                "permit_id": "permit-1",
            },
        ],
        journal=[
            {"pool_id": POOL, "code": "baseline", "idempotency_id": "api:b1", "reclaim_id": None},
            {
                "pool_id": POOL,
                "code": "reclaim",
                "idempotency_id": "rc:1",
                "reclaim_id": "rc-manual",
            },
            {
                "pool_id": POOL,
                "code": "reclaim",
                "idempotency_id": "rc:2",
                "reclaim_id": "rc-closure",
            },
            {"pool_id": POOL, "code": "reserve", "idempotency_id": "res:r1", "reclaim_id": None},
        ],
        pools=[
            {
                "id": POOL,
                "district": D,
                "kind": "district",
                "credited_kg": 33_500,
                "reserved_kg": 2_000,
                "allocated_kg": 3_000,
            }
        ],
        draft_filings=["f1"],
        learned_allocations={"r1", "rd"},
        reconciliation={
            "ok": True,
            "checks": [{"number": 1, "code": "balance", "ok": True, "failures": []}],
            "pools": [{"pool_id": POOL, "ok": True}],
        },
        dead_letters={"permit": [], "quota": [], "eia": []},
        unsent={"permit": 0, "quota": 0, "eia": 0},
        permit_enterprises={"ent-1"},
        permit_statuses={"permit-1": "cancelled"},
        supervised_enterprises={"ent-1"},
        supervised_permits={"permit-1": "cancelled"},
    )
    st.on_topics = Counter({e["event_id"]: 1 for rows in st.outboxes.values() for e in rows})
    return st, world, Stats()


def test_the_judge_passes_a_consistent_system() -> None:
    st, world, stats = consistent()
    findings = checks.judge(st, world, stats, TYPES)
    assert [c.name for c in findings.failed] == []
    assert len(findings.checks) == 10
    assert findings.figures["events"]["published_twice"] == 0


Breakage = Callable[[checks.State, World, Stats], None]


def _set(rows: list[dict[str, Any]], row_id: str, **values: Any) -> None:
    (row,) = [r for r in rows if r["id"] == row_id]
    row.update(values)


BREAKAGES: list[tuple[str, Breakage, str]] = [
    (
        "an event never applied",
        lambda st, w, s: st.inboxes["quota"].discard("e-acc2"),
        "no event lost",
    ),
    (
        "an event never sent",
        lambda st, w, s: st.outboxes["eia"][0].update(sent_at=None),
        "no event lost",
    ),
    ("an event not on its topic", lambda st, w, s: st.on_topics.pop("q-res1"), "no event lost"),
    (
        "a filing stored twice",
        lambda st, w, s: st.filings.append({**st.filings[1], "id": "f2-twin"}),
        "none applied twice",
    ),
    (
        "two holds for one attempt",
        lambda st, w, s: st.reservations.append(
            {**st.reservations[1], "id": "r2-twin", "status": "released"}
        ),
        "none applied twice",
    ),
    (
        "a baseline credited twice",
        lambda st, w, s: st.journal.append({**st.journal[0], "idempotency_id": "api:b2"}),
        "none applied twice",
    ),
    (
        "a reclaim credited twice",
        lambda st, w, s: st.journal.append({**st.journal[1], "idempotency_id": "rc:1b"}),
        "none applied twice",
    ),
    ("a second permit draft", lambda st, w, s: st.draft_filings.append("f1"), "none applied twice"),
    (
        "a 500",
        lambda st, w, s: s.server_errors.append(
            {
                "service": "eia",
                "method": "POST",
                "path": "/eia/filings",
                "status": 500,
                "body": "",
                "phase": "x",
            }
        ),
        "no 5xx but 503, every request answered",
    ),
    (
        "a request never answered",
        lambda st, w, s: s.gave_up.append({"service": "eia", "method": "GET", "path": "/x"}),
        "no 5xx but 503, every request answered",
    ),
    (
        "a saga pending",
        lambda st, w, s: _set(st.filings, "f2", quota_status="pending"),
        "every saga final or blocked with its shortfall",
    ),
    (
        "blocked with no shortfall",
        lambda st, w, s: _set(st.filings, "f2", quota_status="blocked"),
        "every saga final or blocked with its shortfall",
    ),
    (
        "withdrawn with quota held",
        lambda st, w, s: _set(st.filings, "f2", status="withdrawn"),
        "every saga final or blocked with its shortfall",
    ),
    (
        "a hold of no secured filing",
        lambda st, w, s: _set(st.filings, "f2", quota_status="blocked", quota_shortfall_kg=5),
        "services agree",
    ),
    ("no permit draft", lambda st, w, s: st.draft_filings.clear(), "services agree"),
    (
        "an allocation permit-svc never learned",
        lambda st, w, s: st.learned_allocations.discard("rd"),
        "services agree",
    ),
    (
        "allocated amounts differ",
        lambda st, w, s: _set(st.filings, "f1", quota_allocated_kg=1_999),
        "services agree",
    ),
    (
        "the credited sum is not what the load credited",
        lambda st, w, s: st.pools[0].update(credited_kg=38_500),
        "the ledger reconciles",
    ),
    (
        "a pool that does not reconcile",
        lambda st, w, s: st.reconciliation["pools"][0].update(ok=False),
        "the ledger reconciles",
    ),
    (
        "a numbered reconciliation check that fails",
        lambda st, w, s: st.reconciliation["checks"][0].update(ok=False, failures=["x"]),
        "the ledger reconciles",
    ),
    (
        "a dead letter",
        lambda st, w, s: st.dead_letters["quota"].append({"error": "ValueError()"}),
        "no dead letter",
    ),
    ("a .dlq message", lambda st, w, s: setattr(st, "dlq_messages", 1), "no dead letter"),
    ("an unsent event", lambda st, w, s: st.unsent.update(eia=3), "every outbox drained"),
    (
        "a cancellation supervision-svc never learned",
        lambda st, w, s: st.permit_statuses.update({"permit-1": "issued"}),
        "supervision-svc's register agrees with permit-svc",
    ),
    (
        "an enterprise supervision-svc never learned",
        lambda st, w, s: st.permit_enterprises.add("ent-2"),
        "supervision-svc's register agrees with permit-svc",
    ),
]


@pytest.mark.parametrize(("what", "breakage", "check"), BREAKAGES, ids=[b[0] for b in BREAKAGES])
def test_the_judge_fails_each_breakage(what: str, breakage: Breakage, check: str) -> None:
    st, world, stats = consistent()
    breakage(st, world, stats)
    findings = checks.judge(st, world, stats, TYPES)
    assert not findings.check(check).ok, f"{what} went unnoticed"


def test_a_5xx_is_reported_with_the_exception_its_server_logged(tmp_path: Path) -> None:
    logged = {
        "event": "unhandled error",
        "request_id": "r-1",
        "exception": "Traceback (most recent call last):\n  ...\nKeyError: 'district'",
    }
    other = {**logged, "request_id": "r-2", "exception": "Traceback\nValueError: other"}
    (tmp_path / "permit-svc.log").write_text(
        "not json\n" + json.dumps(other) + "\n" + json.dumps(logged) + "\n"
    )
    errors = [
        {"status": 500, "request_id": "r-1"},
        {"status": 500, "request_id": None},
        {"status": 502, "request_id": "r-3"},
    ]
    checks.attach_causes(errors, tmp_path)
    assert errors[0]["cause"] == "permit-svc.log: KeyError: 'district'"
    assert "cause" not in errors[1] and "cause" not in errors[2]


def test_the_register_compares_only_permits_ever_issued() -> None:
    """supervision-svc learns of no application: undecided, refused, or
    merged into the permit it changed (变更申请), none is compared."""
    from bureau.chaos.checks import ever_issued

    rows = [
        {"id": p, "status": p}
        for p in ("applied", "rejected", "merged", "issued", "suspended", "cancelled")
    ]
    assert ever_issued(rows) == {
        "issued": "issued",
        "suspended": "suspended",
        "cancelled": "cancelled",
    }


def test_settings_profiles_and_overrides() -> None:
    full = ChaosSettings.from_env({})
    assert (full.profile, full.broker_down_seconds, full.kills) == ("full", 60.0, 4)
    bounded = ChaosSettings.from_env({"CHAOS_PROFILE": "bounded", "CHAOS_KILLS": "3"})
    assert bounded.broker_down_seconds < full.broker_down_seconds
    assert bounded.kills == 3 and bounded.quota_replicas == 2
    with pytest.raises(ValueError):
        ChaosSettings.from_env({"CHAOS_PROFILE": "gentle"})


def test_instances_name_their_service() -> None:
    assert [service_of(i) for i in ("quota-2", "eia-1", "permit")] == ["quota", "eia", "permit"]


@pytest.mark.kafka
@pytest.mark.pg
@pytest.mark.slow
@pytest.mark.serial  # it restarts PostgreSQL
async def test_bounded_chaos_run_keeps_every_invariant(tmp_path: Path) -> None:
    kafka_ctl, pg_ctl = os.environ.get("KAFKA_CTL"), os.environ.get("PG_CTL")
    if not kafka_ctl or not pg_ctl:
        testing._missing("KAFKA_CTL and PG_CTL")
    assert kafka_ctl and pg_ctl
    settings = ChaosSettings.from_env(profile="bounded")
    report = await run(
        settings,
        pg_admin_url=testing.pg_admin_url(),
        kafka_bootstrap=testing.kafka_bootstrap(),
        kafka_ctl=kafka_ctl,
        pg_ctl=pg_ctl,
        work_dir=tmp_path,
    )
    print(report.summary())
    assert report.passed, report.summary()
    # Each fault was injected and its target came back.
    names = [f["name"] for f in report.faults]
    for fault in (
        "kill -9",
        "postgresql restart with a backlog",
        "replica joins",
        "broker stopped",
        "graceful stop (SIGTERM)",
    ):
        assert fault in names, names
    assert all(f["seconds"] is not None for f in report.faults), report.faults
    assert sum(report.answers.values()) > 100


async def test_a_request_waiting_for_its_slot_goes_to_a_replica_still_in_rotation() -> None:
    """The load's client picks a replica when its request can go, as a
    balancer picks one when it connects: a request that waited for a slot
    while a replica was taken out of rotation (a rolling deploy) goes to
    another, not to one stopped since."""
    import asyncio

    import httpx

    from bureau.chaos.client import Api

    class Rotation:
        def __init__(self) -> None:
            self.out: set[str] = set()

        def urls(self, service: str) -> list[str]:
            return [u for u in ("http://a", "http://b") if u not in self.out]

    first_in = asyncio.Event()
    let_go = asyncio.Event()
    seen: list[str] = []

    async def answer(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.url.scheme}://{request.url.host}")
        if len(seen) == 1:
            first_in.set()
            await let_go.wait()
        return httpx.Response(200)

    rotation = Rotation()
    api = Api(cast(Any, rotation), Stats(), concurrency=1, deadline=10)
    await api.http.aclose()
    api.http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    try:
        one = asyncio.create_task(api.request("x", "GET", "/", headers={}))
        await first_in.wait()
        # The next two queue for the slot (turns 1 and 2: b, then a), then a
        # leaves the rotation.
        two = asyncio.create_task(api.request("x", "GET", "/", headers={}))
        three = asyncio.create_task(api.request("x", "GET", "/", headers={}))
        await asyncio.sleep(0.05)
        rotation.out.add("http://a")
        let_go.set()
        await asyncio.gather(one, two, three)
    finally:
        await api.aclose()
    assert seen[0] == "http://a"
    assert seen[1:] == ["http://b", "http://b"], seen


def test_a_group_with_a_killed_member_is_not_yet_handed_over() -> None:
    live = {"eia-svc": 2, "quota-svc": 1, "supervision-svc": 0}
    settled = {
        "eia-svc": ("Stable", ["eia-svc-1-eia-svc", "eia-svc-2-eia-svc"]),
        "quota-svc": ("Stable", ["quota-svc-1-quota-svc"]),
    }
    assert checks.stale_groups(settled, live) == {}
    # eia-1 killed and started again: the dead member and its restart.
    restarted = {**settled, "eia-svc": ("PreparingRebalance", ["eia-svc-1-eia-svc"] * 2)}
    assert set(checks.stale_groups(restarted, live)) == {"eia-svc"}
    assert set(checks.stale_groups({**restarted, "eia-svc": ("Stable", ["a", "a"])}, live)) == {
        "eia-svc"
    }
    # quota-1 killed, not back: still listed until its session expires.
    assert checks.stale_groups(settled, {**live, "quota-svc": 0}) == {
        "quota-svc": "Stable, 1 members for 0 replicas"
    }
    # A group no replica has joined yet, with none running: nothing to hand over.
    # Several groups are asked of the real broker in the next test.
    assert checks.stale_groups(settled, {**live, "permit-svc": 0}) == {}


@pytest.mark.kafka
async def test_a_member_killed_with_9_is_listed_until_its_session_expires() -> None:
    """What the rolling deploy waits for before it starts, against the real
    broker: a consumer killed with -9 stays in its group's membership (its
    partitions with it) until its session times out, then leaves it."""
    import asyncio
    import subprocess
    import sys
    import time
    import uuid

    bootstrap = testing.kafka_bootstrap()
    group, topic = f"handover-{uuid.uuid4().hex[:8]}", f"handover-{uuid.uuid4().hex[:8]}"
    script = (
        "import asyncio\n"
        "from aiokafka import AIOKafkaConsumer\n"
        "async def main():\n"
        f"    c = AIOKafkaConsumer({topic!r}, bootstrap_servers={bootstrap!r},\n"
        f"        group_id={group!r}, client_id='member-1', session_timeout_ms=6000,\n"
        "        heartbeat_interval_ms=500)\n"
        "    await c.start()\n"
        "    while not c.assignment():\n"
        "        await c.getmany(timeout_ms=200)\n"
        "    print('joined', flush=True)\n"
        "    await asyncio.sleep(600)\n"
        "asyncio.run(main())\n"
    )
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once; its line read in a thread
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), timeout=60)
        assert line.strip() == "joined"
        assert checks.stale_groups(await checks.group_members(bootstrap, [group]), {group: 1}) == {}
    finally:
        proc.kill()
        proc.wait()
    # Asked with another group, one no consumer ever joined.
    never = f"handover-never-{uuid.uuid4().hex[:8]}"
    described = await checks.group_members(bootstrap, [group, never])
    assert described[group][1] == ["member-1"]
    assert described[never] == ("Dead", [])
    assert checks.stale_groups(described, {group: 0, never: 0}) == {
        group: "Stable, 1 members for 0 replicas"
    }
    until = time.monotonic() + 30
    while checks.stale_groups(await checks.group_members(bootstrap, [group]), {group: 0}):
        assert time.monotonic() < until, "the killed member never left its group"
        await asyncio.sleep(0.5)
