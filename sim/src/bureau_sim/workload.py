"""A city-year of the bureau's work, played by its users through the HTTP API.

Sixteen districts; thousands of fixed sources imported on the first day
with the certificates already issued; then, spread over the year, report and
report-form filings on every channel (normal, green, bundled) accepted,
evaluated, reviewed, approved or rejected, withdrawn (some moments after
acceptance), retried when quota is short or a hold lapsed; approved projects'
permits issued; permits changed, suspended, renewed, revoked and cancelled
(closures free quota that officers confirm); candidates entered by hand and
confirmed by a second officer; registrations filed and changed; registration
forms filed by machines, one by one and in bulk, with replays; quality audits
and rectifications; offset-ratio and hold-period changes; reads.

Each user's story is an async generator: it makes one request at a time and
yields how long to wait before its next step. All choices come from the
seed's workload stream."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from svc_common.districts import DISTRICTS
from svc_common.uscc import make_uscc

from bureau_sim.client import Actor, Client, Op
from bureau_sim.config import DAY, HOUR
from bureau_sim.world import Response, Sim

CST = dt.timezone(dt.timedelta(hours=8))
Story = AsyncIterator[float]
DISTRICT_CODES = sorted(DISTRICTS)


def _table(package: str, name: str) -> list[dict[str, str]]:
    text = (resources.files(package) / "data" / name).read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


@dataclass(frozen=True)
class Enterprise:
    uscc: str
    name: str
    district: str
    industry: str  # GB/T 4754 class, as the permit table writes it
    category: str  # key | simplified | registration


@dataclass
class KnownPermit:
    id: str
    uscc: str
    district: str
    pollutants: dict[str, str]
    valid_to: dt.date
    status: str = "issued"


@dataclass
class City:
    """What the users know: the register as they built it."""

    industries: dict[str, str]  # industry class -> category
    project_types: dict[str, tuple[str, str]]  # eia code -> (industry code, category)
    enterprises: list[Enterprise] = field(default_factory=list)
    permits: list[KnownPermit] = field(default_factory=list)
    parks: list[tuple[str, str, list[str]]] = field(default_factory=list)
    ready: bool = False

    @classmethod
    def load(cls) -> City:
        industries = {
            r["industry_code"]: r["category"] for r in _table("permit_svc", "industries.csv")
        }
        types = {
            r["code"]: (r["industry_code"], r["category"])
            for r in _table("eia_svc", "project_types.csv")
        }
        return cls(industries, types)

    def filing_types(self) -> list[str]:
        return sorted(
            c for c, (_, cat) in self.project_types.items() if cat in ("report", "report_form")
        )

    def form_types(self) -> list[str]:
        return sorted(c for c, (_, cat) in self.project_types.items() if cat == "registration_form")


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

    # --- helpers -------------------------------------------------------------------
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

    # --- the year ------------------------------------------------------------------
    def plan(self) -> None:
        """Schedule the first day's set-up and every story of the year."""
        self.start(self.setup(), 0.0, "setup")
        cfg, span = self.cfg, self.end
        starts: list[tuple[Callable[[], Story], str, int]] = [
            (self.filing, "filing", cfg.filings),
            (self.permit_life, "permit", cfg.permit_stories),
            (self.registration, "registration", cfg.registrations),
            (self.machine_filing, "machine filing", cfg.machine_filings),
            (self.bulk_filing, "bulk filing", cfg.bulk_uploads),
            (self.audit, "audit", cfg.audits),
            (self.policy_change, "policy", cfg.ratio_changes),
            (self.manual_reclaim, "manual reclaim", cfg.manual_reclaims),
            (self.manual_reservation, "reservation", cfg.manual_reservations),
            (self.desk_round, "reclaim desk", cfg.desk_rounds),
            (self.reads, "reads", cfg.reads),
            (self.enforcement, "enforcement", cfg.enforcements),
        ]
        for i in range(cfg.rushes):
            at = self.rng.uniform(0.05 * DAY, span * 0.97)
            d = self.rng.choice(DISTRICT_CODES)
            for j in range(cfg.rush_size):
                self.start(
                    self._after_setup(functools.partial(self.manual_reservation, d)),
                    at + self.rng.uniform(0, 1.0),
                    f"rush {i}.{j}",
                )
        for make, label, n in starts:
            for i in range(n):
                at = self.rng.uniform(0.05 * DAY, span * 0.97)
                self.start(self._after_setup(make), at, f"{label} {i}")

    async def _after_setup(self, make: Callable[[], Story]) -> Story:
        while not self.city.ready:
            yield HOUR
        async for delay in make():
            yield delay

    async def setup(self) -> Story:
        """The first day: district settings and baselines, the register of
        fixed sources with the certificates already issued, parks,
        registrations. The rest of the year waits for it."""
        for part in (
            self.quota_settings(),
            self.register(),
            self.existing_permits(),
            self.parks(),
            self.registrations_upload(),
        ):
            async for w in part:
                yield w
        self.city.ready = True

    async def quota_settings(self) -> Story:
        rng = self.rng
        for d in DISTRICT_CODES:
            ratio = rng.choice(["1.0", "1.5", "2.0", "2.0", "2.5"])
            policy = {"offset_ratio": ratio, "hold_days": rng.randint(20, 120)}
            op = self.client.op(
                "quota",
                "PUT",
                f"/quota/settings/{d}/VOCs",
                self.admin,
                json_body=policy,
                effect="quota.settings.set",
            )
            async for w in self.send(op):
                yield w
            # Some districts are short of quota: filings there are blocked and retried.
            amount = rng.choice([3, 8, 15, 40, 120, 400])
            op = self.post(
                "quota",
                f"/quota/pools/{d}/VOCs/baseline",
                self.admin,
                {"amount_t": str(amount), "note": "存量基数"},
                "quota.baseline",
            )
            async for w in self.send(op):
                yield w

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

    async def register(self) -> Story:
        """Thousands of fixed sources in one import."""
        rng, city = self.rng, self.city
        classes = sorted(city.industries)
        rows = []
        for _ in range(self.cfg.enterprises):
            d = rng.choice(DISTRICT_CODES)
            industry = rng.choice(classes)
            e = Enterprise(
                self.uscc(d),
                f"天津某企业{self._serial}有限公司",
                d,
                industry,
                city.industries[industry],
            )
            city.enterprises.append(e)
            rows.append({"uscc": e.uscc, "name": e.name, "district": d, "industry_code": industry})
        op = self._upload("permit", "/permit/enterprises:import", rows, "enterprise.import")
        async for w in self.send(op):
            yield w

    async def existing_permits(self) -> Story:
        """Certificates issued before the register, expiring over the next years."""
        rng, city = self.rng, self.city
        holders = [e for e in city.enterprises if e.category in ("key", "simplified")]
        chosen = {
            e.uscc: e for e in rng.sample(holders, min(self.cfg.existing_permits, len(holders)))
        }
        today = self.today()
        rows: list[dict[str, Any]] = []
        for e in chosen.values():
            valid_to = today + dt.timedelta(days=rng.randint(20, 1500))
            pollutants = {"VOCs": f"{rng.randint(1, 40)}.{rng.randint(0, 999):03d}"}
            if rng.random() < 0.5:
                pollutants["NOx"] = str(rng.randint(1, 30))
            rows.append(
                {
                    "uscc": e.uscc,
                    "pollutants": [{"pollutant": p, "amount_t": a} for p, a in pollutants.items()],
                    "valid_from": (valid_to - dt.timedelta(days=5 * 365)).isoformat(),
                    "valid_to": valid_to.isoformat(),
                }
            )
        op = self._upload("permit", "/permit/permits:import", rows, "permit.import")
        async for w in self.send(op):
            yield w
        if op.response is None or not op.response.ok:
            return
        for result, row in zip(op.response.body["rows"], rows, strict=True):
            if result["result"] == "created":
                city.permits.append(
                    KnownPermit(
                        result["permit_id"],
                        row["uscc"],
                        chosen[row["uscc"]].district,
                        {x["pollutant"]: x["amount_t"] for x in row["pollutants"]},
                        dt.date.fromisoformat(row["valid_to"]),
                    )
                )

    async def parks(self) -> Story:
        """Parks with a bundled EIA and a VOCs sub-pool carved by quota-svc."""
        rng = self.rng
        covered = ["C2319", "C3670", "C2641", "C2231", "C3360"]
        for i, d in enumerate(rng.sample(DISTRICT_CODES, self.cfg.parks)):
            types = rng.sample(covered, 3)
            park_id = f"PARK-{d}-{i}"
            park = {
                "id": park_id,
                "name": f"{DISTRICTS[d]}工业园区{i}",
                "district": d,
                "covered_project_types": types,
                "vocs_subpool_t": str(rng.choice([1, 2, 5, 10])),
            }
            op = self.post("eia", "/eia/parks", self.admin, park, "park.register")
            async for w in self.send(op):
                yield w
            if op.status == 201:
                self.city.parks.append((park_id, d, types))

    async def registrations_upload(self) -> Story:
        """Registration-managed sources file their registrations in one upload."""
        regs = [e for e in self.city.enterprises if e.category == "registration"]
        batch = self.rng.sample(regs, min(30, len(regs)))
        op = self._upload(
            "permit",
            "/permit/registrations:import",
            [{"uscc": e.uscc} for e in batch],
            "registration.file_many",
        )
        async for w in self.send(op):
            yield w

    # --- filings and the quota saga ------------------------------------------------------
    def _project(self) -> tuple[Enterprise, str, str, bool]:
        """An enterprise, the project type of its new project, its category,
        and whether the enterprise is on permit-svc's register."""
        city, rng = self.city, self.rng
        types = city.filing_types()
        if rng.random() < 0.8:
            matching = [
                e
                for e in rng.sample(city.enterprises, min(200, len(city.enterprises)))
                if any(city.project_types[t][0][1:] == e.industry for t in types)
            ]
            if matching:
                e = rng.choice(matching)
                code = next(t for t in types if city.project_types[t][0][1:] == e.industry)
                return e, code, city.project_types[code][1], True
        code = rng.choice(types)
        d = rng.choice(DISTRICT_CODES)
        industry = city.project_types[code][0][1:]
        e = Enterprise(
            self.uscc(d),
            f"新投资企业{self._serial}",
            d,
            industry,
            city.industries.get(industry, ""),
        )
        return e, code, city.project_types[code][1], False

    def _park_project(self) -> tuple[Enterprise, str, str, tuple[str, str, list[str]]]:
        """A new enterprise settling in a park, with a project its bundled EIA covers."""
        park = self.rng.choice(self.city.parks)
        code = self.rng.choice(park[2])
        industry, category = self.city.project_types[code]
        e = Enterprise(
            self.uscc(park[1]),
            f"园区入驻企业{self._serial}",
            park[1],
            industry[1:],
            self.city.industries.get(industry[1:], ""),
        )
        return e, code, category, park

    async def filing(self) -> Story:
        rng, city = self.rng, self.city
        park: tuple[str, str, list[str]] | None = None
        if city.parks and rng.random() < 0.15:
            e, code, category, park = self._park_project()
        else:
            e, code, category, _known = self._project()
            park = next((p for p in city.parks if p[1] == e.district and code in p[2]), None)
        officer = self.officers[e.district][rng.randrange(2)]
        channel = "normal"
        body: dict[str, Any] = {
            "project_name": f"{DISTRICTS[e.district]}项目",
            "uscc": e.uscc,
            "enterprise_name": e.name,
            "district": e.district,
            "project_type": code,
            "category": category,
            "vocs_increment_t": rng.choice(["0", "0.5", "1.2", "2", "3.5", "6", "12.345"]),
        }
        roll = rng.random()
        if park is not None and roll < 0.4:
            body["park_id"], channel = park[0], "bundled"
        elif roll < 0.25:
            body["major_project"], channel = True, "green"
            body["major_kind"] = rng.choice(["infrastructure", "livelihood", "industrial_layout"])
        submitter = rng.choice(self.applicants) if rng.random() < 0.5 else officer
        op = self.post("eia", "/eia/filings", submitter, body, "filing.create")
        async for w in self.send(op):
            yield w
        if op.response is None or op.response.status != 201:
            return
        fid = op.response.body["id"]
        increment = body["vocs_increment_t"] != "0"

        def act(action: str, who: Actor = officer, reason: str | None = None) -> Op:
            return self.post(
                "eia",
                f"/eia/filings/{fid}/{action}",
                who,
                {"reason": reason} if reason else {},
                f"filing.{action}",
            )

        if channel == "normal":
            yield self.days(0.3, 6)
            op = act("accept")
            async for w in self.send(op):
                yield w
            if op.status != 200:
                return
        if increment and rng.random() < self.cfg.quick_withdraw:
            # Withdrawn moments after acceptance: races quota-svc's answer.
            yield rng.uniform(0.05, 20)
            who = submitter if submitter.role == "filer" else officer
            async for w in self.send(act("withdraw", who, "申请人撤回")):
                yield w
            return
        steps = {"normal": ["evaluation-done", "review-done"], "bundled": []}.get(
            channel, rng.sample(["evaluation-done", "review-done"], 2)
        )
        # Now and then a review stalls for months: the quota hold may expire
        # meanwhile (the filing's quota lapses and is retried).
        stalled = rng.random() < 0.12
        for step in steps:
            yield self.days(0.5, 10) if channel == "normal" else self.days(0.2, 4)
            if stalled:
                yield self.days(30, 150)
            if self.over:
                return
            if rng.random() < 0.03:
                async for w in self.send(act("withdraw", officer, "项目取消")):
                    yield w
                return
            async for w in self.send(act(step)):
                yield w
        approved = False
        for _ in range(30):
            yield self.days(0.3, 3)
            if self.over:
                return
            read = self.get("eia", f"/eia/filings/{fid}", officer)
            async for w in self.send(read):
                yield w
            if read.response is None or read.response.status != 200:
                return
            f = read.response.body
            if f["status"] in ("approved", "rejected", "withdrawn"):
                return
            q = f["quota_status"]
            if q in ("secured", "not_required"):
                if rng.random() < 0.85:
                    op = act("approve")
                    async for w in self.send(op):
                        yield w
                    approved = op.status == 200
                else:
                    async for w in self.send(act("reject", officer, "不符合审批条件")):
                        yield w
                break
            if q in ("blocked", "lapsed"):
                x = rng.random()
                if x < 0.55:
                    async for w in self.send(act("quota-retry")):
                        yield w
                elif x < 0.7:
                    async for w in self.send(act("reject", officer, "总量指标不足")):
                        yield w
                    break
                elif x < 0.8:
                    async for w in self.send(act("withdraw", officer, "总量指标不足，撤回")):
                        yield w
                    break
            elif q == "pending" and rng.random() < 0.2:
                # An impatient officer: refused while quota-svc has not answered.
                op = act("approve")
                async for w in self.send(op):
                    yield w
                if op.status == 200:
                    approved = True
                    break
        if approved and increment and e.category in ("key", "simplified"):
            async for w in self.issue_drafted_permit(fid, e):
                yield w

    async def issue_drafted_permit(self, fid: str, e: Enterprise) -> Story:
        """The approved project's permit application is issued, once the
        allocation has reached permit-svc (until then: 409, try later)."""
        officer = self.officers[e.district][0]
        for _ in range(6):
            yield self.days(1, 10)
            if self.over:
                return
            read = self.get(
                "permit",
                "/permit/permits",
                officer,
                f"district={e.district}&status=applied&limit=200",
            )
            async for w in self.send(read):
                yield w
            if read.response is None or read.response.status != 200:
                return
            draft = next(
                (p for p in read.response.body["items"] if p["source_filing_id"] == fid), None
            )
            if draft is None:
                continue
            op = self.post(
                "permit", f"/permit/permits/{draft['id']}/issue", officer, {}, "permit.issue"
            )
            async for w in self.send(op):
                yield w
            if op.status == 200 or (op.status is not None and op.status != 409):
                return

    # --- permits ---------------------------------------------------------------------
    async def permit_life(self) -> Story:
        rng, city = self.rng, self.city
        live = [p for p in city.permits if p.status not in ("cancelled",)]
        if not live:
            return
        p = rng.choice(live)
        officer = self.officers[p.district][rng.randrange(2)]
        for _ in range(rng.randint(1, 4)):
            yield self.days(1, 60)
            if self.over or p.status == "cancelled":
                return
            kind = rng.choice(
                [
                    "decrease",
                    "decrease",
                    "increase",
                    "suspend",
                    "renew",
                    "cancel",
                    "cancel",
                    "revoke",
                ]
            )
            base = f"/permit/permits/{p.id}"
            if kind in ("decrease", "increase"):
                vocs = float(p.pollutants.get("VOCs", "0"))
                new = (
                    vocs * rng.uniform(0.3, 0.9)
                    if kind == "decrease"
                    else vocs + rng.uniform(0.5, 3)
                )
                pollutants = dict(p.pollutants, VOCs=f"{new:.3f}")
                body = {
                    "pollutants": [{"pollutant": k, "amount_t": v} for k, v in pollutants.items()],
                    "reason": "VOCs治理设施升级" if kind == "decrease" else "扩产",
                }
                op = self.post("permit", f"{base}/change", officer, body, "permit.change")
                async for w in self.send(op):
                    yield w
                if op.status == 200:
                    p.pollutants = pollutants
            elif kind == "suspend":
                op = self.post(
                    "permit", f"{base}/suspend", officer, {"reason": "超标排放"}, "permit.suspend"
                )
                async for w in self.send(op):
                    yield w
                if op.status == 200:
                    p.status = "suspended"
                    yield self.days(2, 30)
                    op = self.post(
                        "permit",
                        f"{base}/reinstate",
                        officer,
                        {"reason": "整改完成"},
                        "permit.reinstate",
                    )
                    async for w in self.send(op):
                        yield w
                    if op.status == 200:
                        p.status = "issued"
            elif kind == "renew":
                async for w in self.send(
                    self.post("permit", f"{base}/renew", officer, {}, "permit.renew")
                ):
                    yield w
            elif kind == "revoke":
                op = self.post(
                    "permit", f"{base}/revoke", officer, {"reason": "严重违法"}, "permit.revoke"
                )
                async for w in self.send(op):
                    yield w
                if op.status == 200:
                    p.status = "revoked"
                    yield self.days(1, 20)
                    kind = "cancel"
            if kind == "cancel":
                reason = rng.choice(["closure", "closure", "process_closed", "merger", "other"])
                cancellation: dict[str, Any] = {
                    "reason": reason,
                    "note": "企业关停" if reason == "closure" else None,
                }
                op = self.post("permit", f"{base}/cancel", officer, cancellation, "permit.cancel")
                async for w in self.send(op):
                    yield w
                if op.status == 200:
                    p.status = "cancelled"
                    return

    async def audit(self) -> Story:
        rng, city = self.rng, self.city
        live = [p for p in city.permits if p.status == "issued"]
        if not live:
            return
        p = rng.choice(live)
        officer = self.officers[p.district][rng.randrange(2)]
        findings = [
            {
                "description": rng.choice(["排放口信息不全", "自行监测方案缺项", "台账记录不规范"]),
                "rectification_deadline": (
                    self.today() + dt.timedelta(days=rng.randint(0, 60))
                ).isoformat(),
            }
            for _ in range(rng.choice([0, 1, 1, 2, 3]))
        ]
        body = {"result": "findings" if findings else "pass", "findings": findings}
        op = self.post("permit", f"/permit/permits/{p.id}/audits", officer, body, "permit.audit")
        async for w in self.send(op):
            yield w
        if op.status != 201:
            return
        audit = op.response.body if op.response else {}
        for finding in audit.get("findings", []):
            if rng.random() < 0.3:
                continue  # never rectified: stays on the overdue list
            yield self.days(1, 80)
            if self.over:
                return
            path = f"/permit/audits/{audit['id']}/findings/{finding['id']}/rectify"
            async for w in self.send(
                self.post("permit", path, officer, {"note": "已整改"}, "finding.rectify")
            ):
                yield w

    async def registration(self) -> Story:
        rng = self.rng
        regs = [e for e in self.city.enterprises if e.category == "registration"]
        if not regs:
            return
        e = rng.choice(regs)
        officer = self.officers[e.district][rng.randrange(2)]
        body = {"uscc": e.uscc, "details": {"outlets": rng.randint(1, 4)}}
        op = self.post("permit", "/permit/registrations", officer, body, "registration.file")
        async for w in self.send(op):
            yield w
        if op.status != 201 or op.response is None:
            return
        rid = op.response.body["id"]
        yield self.days(5, 120)
        if self.over:
            return
        if rng.random() < 0.5:
            body = {"details": {"outlets": rng.randint(1, 6)}, "reason": "排放口调整"}
            op = self.post(
                "permit",
                f"/permit/registrations/{rid}/change",
                officer,
                body,
                "registration.change",
            )
        else:
            op = self.post(
                "permit",
                f"/permit/registrations/{rid}/cancel",
                officer,
                {"reason": "停产"},
                "registration.cancel",
            )
        async for w in self.send(op):
            yield w

    # --- registration forms by machines ------------------------------------------------
    def _form(self) -> dict[str, Any]:
        rng = self.rng
        d = rng.choice(DISTRICT_CODES)
        self._serial += 1
        row: dict[str, Any] = {
            "row_key": f"row-{self._serial}",
            "project_name": f"登记表项目{self._serial}",
            "uscc": self.uscc(d),
            "enterprise_name": f"天津某登记企业{self._serial}",
            "district": d,
            "project_type": rng.choice(self.city.form_types()),
            "vocs_increment_t": rng.choice(["0", "0", "0.05"]),
        }
        if rng.random() < 0.08:
            row["uscc"] = row["uscc"][:-1] + ("0" if row["uscc"][-1] != "0" else "1")  # a typo
        return row

    async def machine_filing(self) -> Story:
        rng = self.rng
        filer = rng.choice(self.filers)
        if self.row_keys and rng.random() < 0.2:
            filer, row = rng.choice(self.row_keys)  # a replay after a lost answer
        else:
            row = self._form()
            self.row_keys.append((filer, row))
        op = self.post("eia", "/eia/registrations", filer, row, "registration.file")
        async for w in self.send(op):
            yield w

    async def bulk_filing(self) -> Story:
        rng = self.rng
        filer = rng.choice(self.filers)
        rows = [self._form() for _ in range(self.cfg.bulk_rows)]
        mine = [r for f, r in self.row_keys if f is filer]
        rows += rng.sample(mine, min(len(mine), 3))
        self.row_keys += [(filer, r) for r in rows]
        op = self.client.op(
            "eia",
            "POST",
            "/eia/registrations:bulk",
            filer,
            content="\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode(),
            content_type="application/x-ndjson",
            effect="registration.bulk_file",
        )
        async for w in self.send(op):
            yield w

    # --- quota administration --------------------------------------------------------------
    async def policy_change(self) -> Story:
        rng = self.rng
        d = rng.choice(DISTRICT_CODES)
        body = {
            "offset_ratio": rng.choice(["1.2", "1.5", "2.0", "3.0"]),
            "hold_days": rng.randint(15, 200),
        }
        op = self.client.op(
            "quota",
            "PUT",
            f"/quota/settings/{d}/VOCs",
            self.admin,
            json_body=body,
            effect="quota.settings.set",
        )
        async for w in self.send(op):
            yield w

    async def manual_reclaim(self) -> Story:
        rng = self.rng
        d = rng.choice(DISTRICT_CODES)
        a, b = self.officers[d]
        body = {
            "district": d,
            "amount_t": f"{rng.uniform(0.2, 6):.3f}",
            "source": rng.choice(["manual", "reduction"]),
            "note": "现场核查关停" if rng.random() < 0.5 else "深度治理减排核定",
        }
        op = self.post("quota", "/quota/reclaims", a, body, "quota.reclaim.candidate")
        async for w in self.send(op):
            yield w
        if op.status != 201 or op.response is None:
            return
        rid = op.response.body["id"]
        yield self.days(0.5, 10)
        if rng.random() < 0.25:
            # Four eyes: the officer who entered it may not confirm it.
            async for w in self.send(
                self.post("quota", f"/quota/reclaims/{rid}/confirm", a, {}, "quota.reclaim.confirm")
            ):
                yield w
        if rng.random() < 0.85:
            op = self.post(
                "quota", f"/quota/reclaims/{rid}/confirm", b, {}, "quota.reclaim.confirm"
            )
        else:
            op = self.post(
                "quota",
                f"/quota/reclaims/{rid}/reject",
                b,
                {"reason": "核查不实"},
                "quota.reclaim.reject",
            )
        async for w in self.send(op):
            yield w

    async def manual_reservation(self, district: str | None = None) -> Story:
        rng = self.rng
        d = district or rng.choice(DISTRICT_CODES)
        officer = self.officers[d][rng.randrange(2)]
        self._serial += 1
        body = {
            "district": d,
            "increment_t": f"{rng.uniform(0.1, 3):.3f}",
            "project_ref": f"plan-{self._serial}",
        }
        op = self.post("quota", "/quota/reservations", officer, body, "quota.reserve")
        async for w in self.send(op):
            yield w
        if op.status != 201 or op.response is None:
            return
        rid = op.response.body["id"]
        yield self.days(1, 40)
        x = rng.random()
        if x < 0.45:
            op = self.post(
                "quota", f"/quota/reservations/{rid}/allocate", officer, {}, "quota.allocate"
            )
        elif x < 0.75:
            op = self.post(
                "quota",
                f"/quota/reservations/{rid}/release",
                officer,
                {"reason": "项目调整"},
                "quota.release",
            )
        else:
            return  # left to expire
        async for w in self.send(op):
            yield w

    async def desk_round(self) -> Story:
        """The reclaim desk confirms or rejects the pending candidates."""
        rng = self.rng
        read = self.get("quota", "/quota/reclaims", self.desk, "status=pending&limit=100")
        async for w in self.send(read):
            yield w
        if read.response is None or read.response.status != 200:
            return
        for item in read.response.body["items"]:
            if item["source"] in ("manual", "reduction"):
                continue  # their second officer decides them
            yield rng.uniform(60, 3600)
            _, b = self.officers[item["district"]]
            if rng.random() < 0.85:
                op = self.post(
                    "quota", f"/quota/reclaims/{item['id']}/confirm", b, {}, "quota.reclaim.confirm"
                )
            else:
                op = self.post(
                    "quota",
                    f"/quota/reclaims/{item['id']}/reject",
                    b,
                    {"reason": "已合并至其他企业"},
                    "quota.reclaim.reject",
                )
            async for w in self.send(op):
                yield w

    # --- supervision --------------------------------------------------------------------
    async def enforcement(self) -> Story:
        """An inspection finds a problem at a permit holder; a case is proposed
        and decided by a second officer; a suspension is applied by permit-svc."""
        rng = self.rng
        live = [p for p in self.city.permits if p.status == "issued"]
        if not live:
            return
        p = rng.choice(live)
        a, b = self.officers[p.district]
        inspection = {
            "uscc": p.uscc,
            "inspected_at": self.sim.at_time.isoformat(),
            "inspectors": ["执法人员甲", "执法人员乙"],
            "items": [
                {
                    "item": "treatment_facilities",
                    "result": "problem",
                    "findings": [{"description": "治污设施未正常运行", "severity": "serious"}],
                },
                {"item": "ledger", "result": "compliant"},
            ],
        }
        op = self.post(
            "supervision", "/supervision/inspections", a, inspection, "inspection.record"
        )
        async for w in self.send(op):
            yield w
        if op.status != 201 or op.response is None:
            return
        finding = op.response.body["findings"][0]["id"]
        yield self.days(0.5, 8)
        if self.over:
            return
        measure: dict[str, Any] = rng.choice(
            [
                {"kind": "permit_suspension"},
                {"kind": "permit_suspension"},
                {"kind": "fine", "fine_cny": rng.randint(10, 500) * 1000},
                {"kind": "warning"},
            ]
        )
        case = {
            "finding_id": finding,
            "legal_basis": "《排污许可管理条例》第三十四条",
            "measure": measure,
        }
        op = self.post("supervision", "/supervision/cases", a, case, "case.propose")
        async for w in self.send(op):
            yield w
        if op.status != 201 or op.response is None:
            return
        case_id = op.response.body["id"]
        yield self.days(0.5, 6)
        decision = {"approve": rng.random() < 0.85, "note": "集体讨论决定"}
        op = self.post(
            "supervision", f"/supervision/cases/{case_id}/decide", b, decision, "case.decide"
        )
        async for w in self.send(op):
            yield w

    async def reads(self) -> Story:
        rng = self.rng
        d = rng.choice(DISTRICT_CODES)
        officer = self.officers[d][0]
        choices: list[tuple[str, str, Actor, str]] = [
            ("quota", "/quota/availability", self.investment, ""),
            ("eia", "/eia/filings", officer, "overdue=true"),
            ("permit", "/permit/permits", officer, "expiring_within_days=60"),
            ("permit", "/permit/audits", officer, "overdue=true"),
            ("permit", "/permit/reports/coverage", officer, f"district={d}"),
        ]
        node, path, who, query = rng.choice(choices)
        async for w in self.send(self.get(node, path, who, query)):
            yield w
        body = {"district": d, "increment_t": f"{rng.uniform(0.1, 5):.3f}"}
        check = self.post("quota", "/quota/checks", self.investment, body, None)
        async for w in self.send(check):
            yield w


def response_ok(r: Response | None) -> bool:
    return r is not None and r.ok
