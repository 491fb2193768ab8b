"""The mixed load: client stories through the HTTP APIs, as the bureau's
users would run them, and what each one leaves behind (the expectations the
invariants are checked against).

- filing: an officer submits a report-form filing (some on the green
  channel), accepts it, waits for its quota, then approves, rejects or
  withdraws it; a blocked filing is retried (quota-retry) or withdrawn; some
  are withdrawn at once, racing quota-svc's answer.
- manual reclaim: one officer enters a candidate, another confirms (or
  rejects) it: four eyes; now and then the first tries to confirm it himself.
- closure: a plant with a permit closes in permit-svc; its VOCs come to
  quota-svc as a reclaim candidate by event, and an officer confirms it.
- reservation: an officer holds quota for a project directly, then
  allocates or releases it; a refusal names the shortfall.
- baseline: an administrator tops a district's stock up.
- look: investment staff read availability and ask a what-if.

Every write carries its own Idempotency-Key, kept across its retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from svc_common.tokens import mint_token
from svc_common.uscc import make_uscc

from bureau.chaos.client import Api, GaveUp

#: Tianjin districts the load uses, in order.
DISTRICTS = ("120119", "120115", "120116", "120114", "120113", "120112", "120111", "120110")
#: Project types (GB/T 4754 classes) whose approved filings become permit
#: applications in permit-svc (key or simplified management).
PROJECT_TYPES = ("C2641", "C3360", "C2319")
INITIAL_BASELINE_T = Decimal(30)
OFFSET_RATIO = Decimal("2.0")


def kg(tonnes: str | Decimal) -> int:
    return int(Decimal(tonnes) * 1000)


#: The run's JWT secret, which the stack's services are given too: the
#: distributed mode refuses the development one.
JWT_SECRET = secrets.token_urlsafe(32)


def headers(role: str, sub: str, districts: tuple[str, ...] = ()) -> dict[str, str]:
    return {
        "Authorization": "Bearer " + mint_token(JWT_SECRET, sub=sub, role=role, districts=districts)
    }


class Unexpected(Exception):
    """An answer the story's step does not allow (kept with the run's figures)."""


@dataclass
class FilingRecord:
    id: str
    district: str
    increment_kg: int
    channel: str
    decision: str | None = None  # approved | rejected | withdrawn
    retries: int = 0


@dataclass
class World:
    """The load's view of what it did."""

    api: Api
    districts: tuple[str, ...]
    rng: random.Random
    #: Credited by the load, per district: baselines and confirmed reclaims (kg).
    baselines_kg: Counter[str] = field(default_factory=Counter)
    baselines: Counter[str] = field(default_factory=Counter)
    reclaimed_kg: Counter[str] = field(default_factory=Counter)
    reclaims_confirmed: set[str] = field(default_factory=set)
    filings: dict[str, FilingRecord] = field(default_factory=dict)
    #: project_ref → final state of a direct reservation (allocated | released | refused).
    directs: dict[str, str] = field(default_factory=dict)
    cancelled_permits: dict[str, str] = field(default_factory=dict)  # permit id → district
    four_eyes_refusals: int = 0
    stories: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: When story waits stop (the drain deadline).
    waits_until: float = float("inf")
    _serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def serial(self) -> int:
        return next(self._serial)

    @staticmethod
    def officer(d: str, who: str = "a") -> dict[str, str]:
        return headers("officer", f"chaos.officer.{d}.{who}", (d,))

    @staticmethod
    def admin() -> dict[str, str]:
        return headers("admin", "chaos.admin")

    @staticmethod
    def investment() -> dict[str, str]:
        return headers("investment", "chaos.investment")

    async def expect(
        self, call: Awaitable[Any], *statuses: int, what: str
    ) -> Any:  # an httpx.Response
        r = await call
        if r.status_code not in statuses:
            raise Unexpected(f"{what}: {r.status_code} {r.text[:300]}")
        return r

    async def eventually(
        self, probe: Callable[[], Awaitable[Any]], ok: Callable[[Any], bool], what: str
    ) -> Any:
        """Poll with a growing pause until `ok`, or until the drain deadline."""
        pause = 0.3
        while True:
            last = await probe()
            if ok(last):
                return last
            if time.monotonic() + pause > self.waits_until:
                raise Unexpected(f"{what}: still {last!r:.300} at the drain deadline")
            await asyncio.sleep(pause * self.rng.uniform(0.7, 1.3))
            pause = min(3.0, pause * 1.5)


async def setup(w: World) -> None:
    """Each district's policy (ratio 2.0) and its starting stock."""
    for d in w.districts:
        await w.expect(
            w.api.request(
                "quota",
                "PUT",
                f"/quota/settings/{d}/VOCs",
                headers=w.admin(),
                key=str(uuid.uuid4()),
                json={"offset_ratio": str(OFFSET_RATIO), "hold_days": 180},
            ),
            200,
            what="policy",
        )
        await credit_baseline(w, d, INITIAL_BASELINE_T)


async def credit_baseline(w: World, d: str, amount: Decimal) -> None:
    await w.expect(
        w.api.post(
            "quota",
            f"/quota/pools/{d}/VOCs/baseline",
            w.admin(),
            str(uuid.uuid4()),
            json={"amount_t": str(amount), "note": "chaos 存量基数"},
        ),
        201,
        what="baseline",
    )
    w.baselines_kg[d] += kg(amount)
    w.baselines[d] += 1


# ---------------------------------------------------------------- stories


async def baseline_story(w: World, d: str) -> str:
    await credit_baseline(w, d, Decimal(w.rng.choice(["5", "10"])))
    return "credited"


async def look_story(w: World, d: str) -> str:
    r = await w.expect(
        w.api.get("quota", f"/quota/availability?district={d}", w.investment()),
        200,
        what="availability",
    )
    assert isinstance(r.json(), list)
    await w.expect(
        w.api.request(
            "quota",
            "POST",
            "/quota/checks",
            headers=w.investment(),
            json={"district": d, "increment_t": "1.5"},
        ),
        200,
        what="what-if",
    )
    return "read"


async def reservation_story(w: World, d: str) -> str:
    ref = f"chaos:{uuid.uuid4()}"
    r = await w.expect(
        w.api.post(
            "quota",
            "/quota/reservations",
            w.officer(d),
            str(uuid.uuid4()),
            json={"district": d, "increment_t": w.rng.choice(["0.5", "1"]), "project_ref": ref},
        ),
        201,
        409,
        what="reservation",
    )
    if r.status_code == 409:
        if "shortfall_t" not in r.json():
            raise Unexpected(f"reservation refused without a shortfall: {r.text[:300]}")
        w.directs[ref] = "refused"
        return "refused"
    w.directs[ref] = "held"
    rid = r.json()["id"]
    await asyncio.sleep(w.rng.uniform(0, 2))
    if w.rng.random() < 0.6:
        await w.expect(
            w.api.post(
                "quota", f"/quota/reservations/{rid}/allocate", w.officer(d), str(uuid.uuid4())
            ),
            200,
            what="allocate",
        )
        w.directs[ref] = "allocated"
    else:
        await w.expect(
            w.api.post(
                "quota",
                f"/quota/reservations/{rid}/release",
                w.officer(d),
                str(uuid.uuid4()),
                json={"reason": "项目取消"},
            ),
            200,
            what="release",
        )
        w.directs[ref] = "released"
    return w.directs[ref]


async def manual_reclaim_story(w: World, d: str) -> str:
    amount = w.rng.choice(["2", "3", "4"])
    r = await w.expect(
        w.api.post(
            "quota",
            "/quota/reclaims",
            w.officer(d, "a"),
            str(uuid.uuid4()),
            json={
                "district": d,
                "amount_t": amount,
                "source": "manual",
                "note": "现场检查发现关停",
            },
        ),
        201,
        what="reclaim entry",
    )
    rid = r.json()["id"]
    if w.rng.random() < 0.2:
        # Four eyes: the officer who entered it may not confirm it.
        await w.expect(
            w.api.post(
                "quota", f"/quota/reclaims/{rid}/confirm", w.officer(d, "a"), str(uuid.uuid4())
            ),
            409,
            what="own confirmation",
        )
        w.four_eyes_refusals += 1
    if w.rng.random() < 0.15:
        await w.expect(
            w.api.post(
                "quota",
                f"/quota/reclaims/{rid}/reject",
                w.officer(d, "b"),
                str(uuid.uuid4()),
                json={"reason": "核查不实"},
            ),
            200,
            what="reclaim rejection",
        )
        return "rejected"
    await w.expect(
        w.api.post("quota", f"/quota/reclaims/{rid}/confirm", w.officer(d, "b"), str(uuid.uuid4())),
        200,
        what="reclaim confirmation",
    )
    w.reclaimed_kg[d] += kg(amount)
    w.reclaims_confirmed.add(rid)
    return "confirmed"


async def closure_story(w: World, d: str) -> str:
    code = make_uscc(d, 500_000 + w.serial())
    amount = w.rng.choice(["1.5", "2.5", "4"])
    await w.expect(
        w.api.post(
            "permit",
            "/permit/enterprises",
            w.officer(d),
            str(uuid.uuid4()),
            json={
                "uscc": code,
                "name": f"关停企业{code[-6:]}",
                "district": d,
                "industry_code": "2641",
            },
        ),
        201,
        what="enterprise",
    )
    line = {
        "uscc": code,
        "pollutants": [{"pollutant": "VOCs", "amount_t": amount}],
        "valid_from": "2023-01-01",
        "valid_to": "2027-12-31",
    }
    r = await w.expect(
        w.api.post(
            "permit",
            "/permit/permits:import",
            {**w.officer(d), "content-type": "application/x-ndjson"},
            str(uuid.uuid4()),
            content=json.dumps(line).encode(),
        ),
        200,
        what="permit import",
    )
    report = r.json()
    if report.get("totals", {}).get("created") != 1:
        raise Unexpected(f"permit import: {r.text[:300]}")
    pid = report["results"][0]["id"]
    await w.expect(
        w.api.post(
            "permit",
            f"/permit/permits/{pid}/cancel",
            w.officer(d),
            str(uuid.uuid4()),
            json={"reason": "closure", "note": "企业关停"},
        ),
        200,
        what="permit cancel",
    )
    w.cancelled_permits[pid] = d

    async def candidate() -> list[dict[str, Any]]:
        r = await w.expect(
            w.api.get(
                "quota", f"/quota/reclaims?district={d}&status=pending&limit=500", w.officer(d, "b")
            ),
            200,
            what="reclaims",
        )
        return [c for c in r.json()["items"] if c["permit_id"] == pid]

    (c,) = await w.eventually(candidate, lambda cs: len(cs) == 1, f"reclaim of permit {pid}")
    await w.expect(
        w.api.post(
            "quota", f"/quota/reclaims/{c['id']}/confirm", w.officer(d, "b"), str(uuid.uuid4())
        ),
        200,
        what="closure confirmation",
    )
    w.reclaimed_kg[d] += kg(c["amount_t"])
    w.reclaims_confirmed.add(c["id"])
    return "confirmed"


async def filing_story(w: World, d: str) -> str:
    serial = w.serial()
    increment = w.rng.choice(["0.5", "1", "1.5", "2", "2.5", "3"])
    green = w.rng.random() < 0.2
    ptype = w.rng.choice(PROJECT_TYPES)
    body: dict[str, Any] = {
        "project_name": f"混沌测试项目{serial}",
        "uscc": make_uscc(d, serial),
        "enterprise_name": f"混沌测试企业{serial}有限公司",
        "district": d,
        "project_type": ptype,
        "category": "report_form",
        "vocs_increment_t": increment,
        "major_project": green,
    }
    if green:
        body["major_kind"] = "infrastructure"
    officer = w.officer(d)
    r = await w.expect(
        w.api.post("eia", "/eia/filings", officer, str(uuid.uuid4()), json=body),
        201,
        what="filing",
    )
    f = r.json()
    rec = FilingRecord(f["id"], d, kg(increment), f["channel"])
    w.filings[rec.id] = rec

    # Four eyes: the officer who entered the filing does not decide it.
    decider = w.officer(d, "b")

    async def act(action: str, who: dict[str, str] = officer, **kw: Any) -> dict[str, Any]:
        r = await w.expect(
            w.api.post("eia", f"/eia/filings/{rec.id}/{action}", who, str(uuid.uuid4()), **kw),
            200,
            what=f"filing {action}",
        )
        return dict(r.json())

    async def read() -> dict[str, Any]:
        r = await w.expect(w.api.get("eia", f"/eia/filings/{rec.id}", officer), 200, what="read")
        return dict(r.json())

    async def answered() -> dict[str, Any]:
        return dict(
            await w.eventually(read, lambda f: f["quota_status"] != "pending", f"quota of {rec.id}")
        )

    # Every filing is accepted by an officer before it asks quota; a major
    # project's claim is confirmed then (green channel).
    accepted = await act("accept", json={"green_channel": True} if green else {})
    rec.channel = accepted["channel"]
    if w.rng.random() < 0.1:
        await act("withdraw", json={"reason": "企业撤回"})  # races quota-svc's answer
        rec.decision = "withdrawn"
        return "withdrawn-at-once"
    f = await answered()
    while f["quota_status"] == "blocked":
        if rec.retries >= 2 or w.rng.random() < 0.3:
            await act("withdraw", json={"reason": "总量不足，企业撤回"})
            rec.decision = "withdrawn"
            return "withdrawn-blocked"
        await asyncio.sleep(w.rng.uniform(2, 6))  # quota may be reclaimed meanwhile
        r = await w.expect(
            w.api.post("eia", f"/eia/filings/{rec.id}/quota-retry", officer, str(uuid.uuid4())),
            200,
            409,
            what="filing quota-retry",
        )
        if r.status_code == 409:
            # A late answer to a request asked again while the filing waited
            # (same attempt) may have secured it meanwhile: read it again.
            f = await read()
            if f["quota_status"] != "secured":
                raise Unexpected(f"filing quota-retry: 409 {r.text[:300]}")
            w.outcomes["filing:secured-while-blocked"] += 1
            break
        rec.retries += 1
        f = await answered()
    if f["quota_status"] != "secured":
        raise Unexpected(f"filing {rec.id}: quota {f['quota_status']} after its request")
    steps = ["evaluation-done", "review-done"]
    if green:
        w.rng.shuffle(steps)  # in parallel on the green channel, in either order
    for step in steps:
        await act(step)
    fate = w.rng.random()
    if fate < 0.75:
        await act("approve", decider)
        rec.decision = "approved"
    elif fate < 0.9:
        await act("reject", decider, json={"reason": "不符合审批要求"})
        rec.decision = "rejected"
    else:
        await act("withdraw", json={"reason": "企业撤回"})
        rec.decision = "withdrawn"
    return rec.decision + ("-after-retry" if rec.retries else "")


Story = Callable[[World, str], Awaitable[str]]
MIX: tuple[tuple[str, Story, float], ...] = (
    ("filing", filing_story, 0.55),
    ("reservation", reservation_story, 0.12),
    ("manual-reclaim", manual_reclaim_story, 0.1),
    ("closure", closure_story, 0.1),
    ("baseline", baseline_story, 0.05),
    ("look", look_story, 0.08),
)


async def run_story(w: World, name: str, story: Story, d: str) -> None:
    w.stories[name] += 1
    try:
        outcome = await story(w, d)
        w.outcomes[f"{name}:{outcome}"] += 1
    except Unexpected as exc:
        w.unexpected.append(f"{name}: {exc}")
        w.outcomes[f"{name}:unexpected"] += 1
    except GaveUp as exc:
        w.errors.append(f"{name}: {exc}")
        w.outcomes[f"{name}:gave-up"] += 1
    except Exception as exc:  # a bug in the story or an answer it cannot read
        w.errors.append(f"{name}: {exc!r}")
        w.outcomes[f"{name}:error"] += 1


async def generate(
    w: World, rate: float, max_inflight: int, stop: asyncio.Event
) -> set[asyncio.Task[None]]:
    """Start stories at `rate` per second until `stop`; returns those under way."""
    names = [m[0] for m in MIX]
    stories = {m[0]: m[1] for m in MIX}
    weights = [m[2] for m in MIX]
    running: set[asyncio.Task[None]] = set()
    while not stop.is_set():
        if len(running) < max_inflight:
            name = w.rng.choices(names, weights)[0]
            d = w.rng.choice(w.districts)
            t = asyncio.create_task(run_story(w, name, stories[name], d))
            running.add(t)
            t.add_done_callback(running.discard)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=w.rng.expovariate(rate))
    return running
