"""The invariants, checked once the faults have stopped and everything has
drained. `gather` reads the services' own databases (the truth behind their
APIs), their admin APIs and the topics; `judge` holds that against what the
load did, with no I/O (so each rule can be shown to fail on its own).

- no event lost: every event an outbox holds was sent, is on its topic, and
  is in the inbox of every consumer group that handles its type;
- none applied twice, by business effect: one filing per submission (even
  when a replica died between commit and answer), one hold per filing
  attempt and at most one live hold per project, one reclaim candidate per
  cancelled permit, one permit draft per filing, one credit per confirmed
  reclaim and one baseline entry per baseline request;
- no answer 5xx other than 503, and every request answered in the end;
- every saga final or explicitly blocked with its shortfall, none pending;
- the services agree: holds = secured filings, allocations = approved
  filings (same amounts), permit drafts = approved filings, the allocations
  permit-svc learned = quota-svc's, direct reservations as the load left them;
- the ledger reconciles (`/quota/reconciliation`: its numbered business
  checks and each pool's journal replayed) and each district pool's
  credited, reserved and allocated sums are what the load and the
  reservations say;
- no dead letter (`/<prefix>/admin/dead-letters`, and the `.dlq` topics),
  every outbox drained (`/<prefix>/admin/outbox`).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bureau.chaos.client import Stats
from bureau.chaos.load import World
from bureau.stack import SERVICES, Stack

GROUPS = {svc: f"{svc}-svc" for svc in SERVICES}
TOPICS = tuple(f"{svc}.events" for svc in SERVICES)
FINAL_DECIDED = {
    # decision → the quota states that settle it
    "approved": {"allocated"},
    "rejected": {"released", "blocked"},
    "withdrawn": {"released", "blocked"},
}
#: Quota states of an undecided filing that wait on nobody but its officer.
UNDECIDED_SETTLED = {"secured", "blocked", "not_requested", "not_required"}

Row = dict[str, Any]


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class Findings:
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, problems: list[str]) -> None:
        shown = "; ".join(problems[:8])
        if len(problems) > 8:
            shown += f" (+{len(problems) - 8} more)"
        self.checks.append(Check(name, not problems, shown))

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def check(self, name: str) -> Check:
        (found,) = [c for c in self.checks if c.name == name]
        return found


@dataclass
class State:
    """What the services hold once drained (rows as plain dicts)."""

    outboxes: dict[str, list[Row]] = field(default_factory=dict)
    inboxes: dict[str, set[str]] = field(default_factory=dict)
    #: Copies of each event id on the service topics since the run began.
    on_topics: Counter[str] = field(default_factory=Counter)
    filings: list[Row] = field(default_factory=list)
    reservations: list[Row] = field(default_factory=list)
    reclaims: list[Row] = field(default_factory=list)
    journal: list[Row] = field(default_factory=list)
    pools: list[Row] = field(default_factory=list)
    #: permit-svc: the filing of each permit draft, and the allocations it learned.
    draft_filings: list[str] = field(default_factory=list)
    learned_allocations: set[str] = field(default_factory=set)
    #: /quota/reconciliation: {ok, checks: [{number, code, ok, failures}], pools: [{pool_id, ok}]}
    reconciliation: Row = field(default_factory=dict)
    #: /<prefix>/admin/dead-letters and /<prefix>/admin/outbox, per service.
    dead_letters: dict[str, list[Row]] = field(default_factory=dict)
    unsent: dict[str, int] = field(default_factory=dict)
    dlq_messages: int = 0
    #: permit-svc's enterprises and the status of its permits ever issued,
    #: and what supervision-svc learned of them (None: it did not run).
    permit_enterprises: set[str] = field(default_factory=set)
    permit_statuses: dict[str, str] = field(default_factory=dict)
    supervised_enterprises: set[str] | None = None
    supervised_permits: dict[str, str] | None = None


def settled(status: str, quota: str, increment_kg: int) -> bool:
    """Whether a filing's saga is over, or waits on a person (blocked)."""
    if status in FINAL_DECIDED:
        return increment_kg == 0 or quota in FINAL_DECIDED[status]
    return quota in UNDECIDED_SETTLED


def dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def handled_types(services: tuple[str, ...] = SERVICES) -> dict[str, set[str]]:
    """Event types each service's consumer group handles (from its spec)."""
    import importlib

    from svc_common.events.registry import load_all

    registry = load_all()
    out: dict[str, set[str]] = {}
    for svc in services:
        handlers = importlib.import_module(f"{svc}_svc.app").spec().handlers
        out[svc] = {t for t in registry.types() if handlers and handlers.get(t) is not None}
    return out


async def fetch(url: str, sql: str, *args: Any) -> list[Row]:
    conn = await asyncpg.connect(dsn(url))
    try:
        return [dict(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


async def _outboxes(stack: Stack) -> dict[str, list[Row]]:
    return {
        svc: await fetch(
            stack.db_urls[svc], "SELECT event_id, event_type, topic, sent_at FROM outbox"
        )
        for svc in stack.services
    }


async def _inboxes(stack: Stack) -> dict[str, set[str]]:
    return {
        svc: {
            r["event_id"]
            for r in await fetch(
                stack.db_urls[svc],
                "SELECT event_id FROM inbox WHERE consumer_group = $1",
                GROUPS[svc],
            )
        }
        for svc in stack.services
    }


def not_applied(
    outboxes: dict[str, list[Row]], inboxes: dict[str, set[str]], types: dict[str, set[str]]
) -> dict[str, list[tuple[str, str]]]:
    """Per consumer service, the (type, id) of events it handles and has not applied."""
    return {
        svc: [
            (r["event_type"], r["event_id"])
            for rows in outboxes.values()
            for r in rows
            if r["event_type"] in types[svc] and r["event_id"] not in inboxes[svc]
        ]
        for svc in inboxes
    }


async def unsettled(stack: Stack, types: dict[str, set[str]]) -> list[str]:
    """What still moves: unsent events, events a consumer has yet to apply,
    pending sagas. Empty once the system has drained."""
    problems: list[str] = []
    outboxes = await _outboxes(stack)
    unsent = sum(1 for rows in outboxes.values() for r in rows if r["sent_at"] is None)
    if unsent:
        problems.append(f"{unsent} unsent")
    for svc, missing in not_applied(outboxes, await _inboxes(stack), types).items():
        if missing:
            problems.append(f"{len(missing)} not yet applied by {GROUPS[svc]}")
    pending = await fetch(
        stack.db_urls["eia"], "SELECT count(*) AS n FROM filings WHERE quota_status = 'pending'"
    )
    if pending[0]["n"]:
        problems.append(f"{pending[0]['n']} filings pending")
    return problems


async def gather(stack: Stack, admin: dict[str, str], marks: dict[TopicPartition, int]) -> State:
    """`marks`: where the topics ended when the run began (what came before
    is another run's)."""
    urls = stack.db_urls
    st = State(outboxes=await _outboxes(stack), inboxes=await _inboxes(stack))
    st.on_topics = await read_topics(stack.kafka_bootstrap, marks)
    st.filings = await fetch(
        urls["eia"],
        "SELECT id, district, status, quota_status, quota_attempt, reservation_id,"
        " quota_shortfall_kg, quota_allocated_kg, vocs_increment_kg, quota_asks FROM filings",
    )
    st.reservations = await fetch(
        urls["quota"],
        "SELECT id, idempotency_id, project_ref, filing_id, attempt, status, held_kg,"
        " allocated_kg, pool_id FROM reservations",
    )
    st.reclaims = await fetch(
        urls["quota"], "SELECT id, district, amount_kg, source, status, permit_id FROM reclaims"
    )
    st.journal = await fetch(
        urls["quota"],
        "SELECT pool_id, code, amount_kg, idempotency_id, reclaim_id, reservation_id"
        " FROM journal_entries",
    )
    st.pools = await fetch(
        urls["quota"],
        "SELECT id, district, kind, credited_kg, reserved_kg, allocated_kg FROM pools",
    )
    st.draft_filings = [
        r["source_filing_id"]
        for r in await fetch(
            urls["permit"],
            "SELECT source_filing_id FROM permits WHERE source_filing_id IS NOT NULL",
        )
    ]
    st.learned_allocations = {
        r["reservation_id"]
        for r in await fetch(urls["permit"], "SELECT reservation_id FROM quota_allocations")
    }
    st.permit_enterprises = {
        r["uscc"] for r in await fetch(urls["permit"], "SELECT uscc FROM enterprises")
    }
    st.permit_statuses = ever_issued(await fetch(urls["permit"], "SELECT id, status FROM permits"))
    if "supervision" in stack.services:
        st.supervised_enterprises = {
            r["uscc"] for r in await fetch(urls["supervision"], "SELECT uscc FROM enterprises")
        }
        st.supervised_permits = {
            r["permit_id"]: r["status"]
            for r in await fetch(urls["supervision"], "SELECT permit_id, status FROM permits")
        }
    st.reconciliation = await first_answer(stack, "quota", "/quota/reconciliation", admin)
    for svc in stack.services:
        page = await first_answer(stack, svc, f"/{svc}/admin/dead-letters?status=dead", admin)
        st.dead_letters[svc] = page["items"]
        st.unsent[svc] = (await first_answer(stack, svc, f"/{svc}/admin/outbox", admin))["unsent"]
    st.dlq_messages = await topic_depth(stack.kafka_bootstrap, [t + ".dlq" for t in TOPICS], marks)
    return st


def judge(st: State, world: World, stats: Stats, types: dict[str, set[str]]) -> Findings:
    out = Findings()
    _events(out, st, types)
    _twice(out, st, world)
    _answers(out, world, stats)
    _sagas(out, st, world)
    _agree(out, st, world)
    _ledger(out, st, world)
    _register(out, st)
    _operators(out, st)
    return out


def _events(out: Findings, st: State, types: dict[str, set[str]]) -> None:
    problems = []
    for svc, rows in st.outboxes.items():
        unsent = [r["event_id"] for r in rows if r["sent_at"] is None]
        if unsent:
            problems.append(f"{svc}-svc: {len(unsent)} events never sent")
    for svc, missing in not_applied(st.outboxes, st.inboxes, types).items():
        if missing:
            problems.append(f"{GROUPS[svc]} never applied {len(missing)}: {missing[:3]}")
    ours = [r["event_id"] for rows in st.outboxes.values() for r in rows]
    absent = [e for e in ours if st.on_topics.get(e, 0) == 0]
    if absent:
        problems.append(f"{len(absent)} sent events not on their topics: {absent[:3]}")
    out.add("no event lost", problems)
    copies = sum(st.on_topics.get(e, 0) for e in ours)
    out.figures["events"] = {
        "written": len(ours),
        "by_service": {svc: len(rows) for svc, rows in st.outboxes.items()},
        "published_copies": copies,
        "published_twice": copies - (len(ours) - len(absent)),
        "applied": {GROUPS[svc]: len(ids) for svc, ids in st.inboxes.items()},
    }


def _twice(out: Findings, st: State, world: World) -> None:
    problems = []
    if len(st.filings) != len(world.filings):
        extra = {f["id"] for f in st.filings} - set(world.filings)
        problems.append(
            f"{len(st.filings)} filings stored for {len(world.filings)} submitted "
            f"(not submitted by the load: {sorted(extra)[:3]})"
        )
    per_attempt = Counter(
        (r["filing_id"], r["attempt"]) for r in st.reservations if r["filing_id"] is not None
    )
    problems += [
        f"filing {k[0]} attempt {k[1]}: {n} holds" for k, n in per_attempt.items() if n > 1
    ]
    live = Counter(
        r["project_ref"] for r in st.reservations if r["status"] in ("held", "allocated")
    )
    problems += [f"project {ref}: {n} live reservations" for ref, n in live.items() if n > 1]
    by_permit = Counter(r["permit_id"] for r in st.reclaims if r["source"] == "permit_cancelled")
    for pid in world.cancelled_permits:
        if by_permit.get(pid, 0) != 1:
            problems.append(f"permit {pid}: {by_permit.get(pid, 0)} reclaim candidates")
    ids = Counter(j["idempotency_id"] for j in st.journal)
    problems += [f"journal id {k}: {n} entries" for k, n in ids.items() if n > 1]
    credits = Counter(j["reclaim_id"] for j in st.journal if j["reclaim_id"] is not None)
    confirmed = {r["id"] for r in st.reclaims if r["status"] == "confirmed"}
    if confirmed != world.reclaims_confirmed:
        problems.append(
            f"{len(confirmed)} reclaims confirmed in quota-svc, "
            f"{len(world.reclaims_confirmed)} by the load"
        )
    problems += [
        f"reclaim {rid}: credited {credits.get(rid, 0)} times"
        for rid in confirmed
        if credits.get(rid, 0) != 1
    ]
    baselines = Counter(j["pool_id"].split(":")[0] for j in st.journal if j["code"] == "baseline")
    for d in world.districts:
        if baselines.get(d, 0) != world.baselines[d]:
            problems.append(
                f"{d}: {baselines.get(d, 0)} baseline entries for {world.baselines[d]} requests"
            )
    per_filing = Counter(st.draft_filings)
    problems += [f"filing {fid}: {n} permit drafts" for fid, n in per_filing.items() if n > 1]
    out.add("none applied twice", problems)
    out.figures["reasks"] = sum(f["quota_asks"] or 0 for f in st.filings)


def attach_causes(server_errors: list[dict[str, Any]], log_dir: Path) -> None:
    """Give each 5xx answer the last line of the exception its server logged
    for that request ("unhandled error" with its request_id), so that a
    failed run says what failed inside without its logs."""
    wanted = {e["request_id"]: e for e in server_errors if e.get("request_id")}
    if not wanted:
        return
    for path in sorted(log_dir.glob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if '"unhandled error"' not in line:
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            e = wanted.get(entry.get("request_id"))
            trace = str(entry.get("exception") or "").strip().splitlines()
            if e is not None and trace:
                e["cause"] = f"{path.name}: {trace[-1][:300]}"


def _answers(out: Findings, world: World, stats: Stats) -> None:
    problems = [
        f"{e['status']} {e['method']} {e['service']}{e['path']} during {e['phase']}: "
        + e["body"][:120]
        + (f" — cause: {e['cause']}" if e.get("cause") else "")
        for e in stats.server_errors
    ]
    problems += [f"gave up: {g['method']} {g['service']}{g['path']}" for g in stats.gave_up]
    out.add("no 5xx but 503, every request answered", problems)
    out.add("every story ran as its users expect", world.unexpected + world.errors)


def _sagas(out: Findings, st: State, world: World) -> None:
    problems = []
    for f in st.filings:
        qs, status = f["quota_status"], f["status"]
        if qs == "pending":
            problems.append(f"filing {f['id']} ({status}) pending")
        elif not settled(status, qs, f["vocs_increment_kg"]):
            problems.append(f"filing {f['id']} {status} with quota {qs}")
        if qs == "blocked" and not (f["quota_shortfall_kg"] or 0) > 0:
            problems.append(f"filing {f['id']} blocked with no shortfall")
    by_id = {f["id"]: f for f in st.filings}
    for fid, rec in world.filings.items():
        stored = by_id.get(fid)
        if stored is None:
            problems.append(f"filing {fid} submitted but not stored")
        elif rec.decision is not None and stored["status"] != rec.decision:
            problems.append(f"filing {fid}: {stored['status']}, the load made it {rec.decision}")
    out.add("every saga final or blocked with its shortfall", problems)
    out.figures["filings"] = dict(Counter(f"{f['status']}/{f['quota_status']}" for f in st.filings))


def _agree(out: Findings, st: State, world: World) -> None:
    problems = []
    eia_res = [r for r in st.reservations if r["project_ref"].startswith("eia:")]
    held = {r["filing_id"]: r["id"] for r in eia_res if r["status"] == "held"}
    secured = {f["id"]: f["reservation_id"] for f in st.filings if f["quota_status"] == "secured"}
    if held != secured:
        problems.append(
            f"holds ≠ secured filings: {len(held)} held, {len(secured)} secured, "
            f"differing {sorted(set(held.items()) ^ set(secured.items()))[:3]}"
        )
    allocated = {r["filing_id"]: r["allocated_kg"] for r in eia_res if r["status"] == "allocated"}
    approved = {f["id"]: f["quota_allocated_kg"] for f in st.filings if f["status"] == "approved"}
    if allocated != approved:
        problems.append(
            f"allocations ≠ approved filings: {len(allocated)} allocated, "
            f"{len(approved)} approved, "
            f"differing {sorted(set(allocated.items()) ^ set(approved.items()))[:3]}"
        )
    if set(st.draft_filings) != set(approved):
        problems.append(
            f"permit drafts ≠ approved filings: {len(set(st.draft_filings))} drafts, "
            f"{len(approved)} approved"
        )
    made = {r["id"] for r in st.reservations if r["status"] == "allocated"}
    if st.learned_allocations != made:
        problems.append(
            f"permit-svc learned {len(st.learned_allocations)} allocations, "
            f"quota-svc made {len(made)}"
        )
    directs = {
        r["project_ref"]: r["status"]
        for r in st.reservations
        if r["project_ref"].startswith("chaos:")
    }
    for ref, state in world.directs.items():
        if state != "refused" and directs.get(ref) != state:
            problems.append(f"reservation {ref}: {directs.get(ref)}, the load made it {state}")
        if state == "refused" and ref in directs:
            problems.append(f"reservation {ref} refused but stored as {directs[ref]}")
    out.add("services agree", problems)
    out.figures["reservations"] = dict(Counter(r["status"] for r in st.reservations))
    out.figures["permit_drafts"] = len(st.draft_filings)


def _ledger(out: Findings, st: State, world: World) -> None:
    problems = []
    rec = st.reconciliation
    bad = [p["pool_id"] for p in rec.get("pools", []) if not p["ok"]]
    if bad:
        problems.append(f"pools whose journal does not replay to their balance: {bad}")
    problems += [
        f"check {c['number']} {c['code']} fails: {c.get('failures', [])[:2]}"
        for c in rec.get("checks", [])
        if not c["ok"]
    ]
    if not rec.get("ok", False) and not problems:
        problems.append("the reconciliation report is not ok")
    for p in st.pools:
        if p["kind"] != "district":
            continue
        d = p["district"]
        in_pool = [x for x in st.reservations if x["pool_id"] == p["id"]]
        want = (
            world.baselines_kg[d] + world.reclaimed_kg[d],
            sum(x["held_kg"] for x in in_pool if x["status"] == "held"),
            sum(x["allocated_kg"] for x in in_pool if x["status"] == "allocated"),
        )
        got = (p["credited_kg"], p["reserved_kg"], p["allocated_kg"])
        if got != want:
            problems.append(f"pool {p['id']} credited/reserved/allocated kg {got}, expected {want}")
    out.add("the ledger reconciles", problems)
    out.figures["pools_t"] = {
        p["id"]: [p["credited_kg"] / 1000, p["reserved_kg"] / 1000, p["allocated_kg"] / 1000]
        for p in st.pools
    }


#: permit-svc's statuses of a permit never issued (its rules.NEVER_ISSUED): an
#: application undecided, refused, or merged into the permit it changed;
#: supervision-svc learns of none of them.
PERMITS_NEVER_ISSUED = ("applied", "rejected", "merged")


def ever_issued(permits: list[Row]) -> dict[str, str]:
    """The status of each of permit-svc's permits ever issued, by id."""
    return {
        str(r["id"]): str(r["status"]) for r in permits if r["status"] not in PERMITS_NEVER_ISSUED
    }


def _register(out: Findings, st: State) -> None:
    """supervision-svc's register of enterprises and permits is permit-svc's."""
    problems = []
    if st.supervised_enterprises is not None:
        unknown = st.permit_enterprises - st.supervised_enterprises
        if unknown:
            problems.append(f"{len(unknown)} enterprises unknown to supervision-svc")
    if st.supervised_permits is not None:
        differ = [
            f"permit {pid}: {status} in permit-svc, "
            f"{st.supervised_permits.get(pid)} in supervision-svc"
            for pid, status in st.permit_statuses.items()
            if st.supervised_permits.get(pid) != status
        ]
        problems += differ
    out.add("supervision-svc's register agrees with permit-svc", problems)


def _operators(out: Findings, st: State) -> None:
    problems = [
        f"{svc}-svc: {len(items)} dead letters, e.g. {items[0].get('error', '')[:200]}"
        for svc, items in st.dead_letters.items()
        if items
    ]
    if st.dlq_messages:
        problems.append(f"{st.dlq_messages} messages on the .dlq topics")
    out.add("no dead letter", problems)
    out.add(
        "every outbox drained",
        [f"{svc}-svc: {n} unsent" for svc, n in st.unsent.items() if n],
    )


async def first_answer(stack: Stack, svc: str, path: str, admin: dict[str, str]) -> Any:
    import httpx

    async with httpx.AsyncClient(timeout=30) as c:
        last: Exception | None = None
        for base in stack.urls(svc):
            try:
                r = await c.get(base + path, headers=admin)
            except httpx.HTTPError as exc:
                last = exc
                continue
            r.raise_for_status()
            return r.json()
    raise RuntimeError(f"no replica of {svc}-svc answered {path}: {last!r}")


async def partitions(bootstrap: str, topics: list[str]) -> list[TopicPartition]:
    """The partitions of those of `topics` that exist."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="chaos-check")
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return [
        TopicPartition(t["topic"], p["partition"])
        for t in described
        if t["error_code"] == 0
        for p in t["partitions"]
    ]


async def topic_ends(bootstrap: str, topics: list[str]) -> dict[TopicPartition, int]:
    """Where each partition of `topics` ends now (topics not there yet: none)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, client_id="chaos-check")
    await consumer.start()
    try:
        tps = await partitions(bootstrap, topics)
        return dict(await consumer.end_offsets(tps)) if tps else {}
    finally:
        await consumer.stop()


def all_topics() -> list[str]:
    return [*TOPICS, *(t + ".dlq" for t in TOPICS)]


async def _read_since(
    bootstrap: str, topics: list[str], marks: dict[TopicPartition, int]
) -> list[Any]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, client_id="chaos-check", enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = await partitions(bootstrap, topics)
        if not tps:
            return []
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            consumer.seek(tp, marks.get(tp, 0))
        records: list[Any] = []

        async def behind() -> bool:
            return any([await consumer.position(tp) < end for tp, end in ends.items()])

        while await behind():
            batch = await consumer.getmany(timeout_ms=2000, max_records=5000)
            for recs in batch.values():
                records.extend(
                    r for r in recs if r.offset < ends[TopicPartition(r.topic, r.partition)]
                )
        return records
    finally:
        await consumer.stop()


async def read_topics(bootstrap: str, marks: dict[TopicPartition, int]) -> Counter[str]:
    """How many times each event id (ce_id) was put on the service topics
    since the marks."""
    seen: Counter[str] = Counter()
    for r in await _read_since(bootstrap, list(TOPICS), marks):
        ce_id = dict(r.headers or []).get("ce_id")
        if ce_id is not None:
            seen[ce_id.decode()] += 1
    return seen


async def topic_depth(bootstrap: str, topics: list[str], marks: dict[TopicPartition, int]) -> int:
    """Messages put on `topics` since the marks."""
    ends = await topic_ends(bootstrap, topics)
    return sum(end - marks.get(tp, 0) for tp, end in ends.items())


async def group_members(bootstrap: str, groups: list[str]) -> dict[str, tuple[str, list[str]]]:
    """Each consumer group's state ("Stable", "PreparingRebalance", …) and
    the client ids of its members, as the broker's coordinator has them: a
    member killed with -9 stays listed until its session expires."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="chaos-check")
    await admin.start()
    out: dict[str, tuple[str, list[str]]] = {}
    try:
        # One group a request: aiokafka misreads the broker's answer about
        # several ("Buffer underrun decoding string"), and drops the connection.
        for group in groups:
            for response in await admin.describe_consumer_groups([group]):
                # (error_code, group, state, protocol_type, protocol, members, …);
                # a member is (member_id, client_id, client_host, metadata, assignment).
                for g in response.groups:
                    out[g[1]] = (g[2], [m[1] for m in g[5]])
    finally:
        await admin.close()
    return out


def stale_groups(
    described: dict[str, tuple[str, list[str]]], live: dict[str, int]
) -> dict[str, str]:
    """The groups whose membership does not match the live replicas, and
    how: `live` is how many replicas of each group are running. A group
    rebalancing, with a member beyond its live replicas (one killed and not
    yet expired), or with a client id twice (one killed and its restart)
    has not handed the killed member's partitions over yet."""
    out: dict[str, str] = {}
    for group, n in live.items():
        state, clients = described.get(group, ("Dead", []))
        if n == 0 and not clients:
            continue
        if state != "Stable" or len(clients) != n or len(set(clients)) != len(clients):
            out[group] = f"{state}, {len(clients)} members for {n} replicas"
    return out
