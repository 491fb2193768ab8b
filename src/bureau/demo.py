"""The demonstration data set (演示数据): a realistic Tianjin loaded through
the services' APIs, so every page of the console has something to show.

- VOCs (and NOx) baselines for the 16 districts, a year back, with a second
  credit half a year ago; offset ratios; priority reserves; two bundled-EIA
  parks with their sub-pools.
- 宝坻区 as in the bureau's report: 274 enterprises holding permits and 4,275
  under registration (numbers adjustable for a quick run), some permits
  expiring within 60 days, audits with findings to rectify.
- 蓟州区's tight VOCs pool: 12 t, an approved and a secured project, a third
  project blocked for lack of quota, three closed plants whose permits are
  cancelled, so their quota waits for an officer to confirm the reclaim.
- EIA filings in every state (submitted, accepted, evaluated, reviewed,
  approved, rejected, withdrawn; green channel; bundled) and registration
  forms filed in bulk, one revoked, some sampled for a post-hoc check.
- 12369 complaints (投诉) of 蓟州区 and 宝坻区: two reports of the same
  odour from one plant (a cluster), one of them accepted; one past its
  acceptance deadline; one rejected.
- on-site inspections (执法检查) of two 蓟州区 plants: one compliant, one
  with a serious finding, on which a rectification order (立案查处) is
  proposed and awaits another officer's decision.

Every POST carries an Idempotency-Key derived from its step: running the
demo again replays the first answers instead of loading everything twice."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import TypeAdapter
from svc_common.uscc import make_uscc

from bureau.client import BULK_REPORT, UNREAD, Answer, Api, ApiFailed, BulkReport, Page

T = TypeVar("T")

BEIJING = dt.timezone(dt.timedelta(hours=8))


class Permit(Answer):
    """A permit as the demo reads it (GET /permit/permits)."""

    id: str
    uscc: str
    status: str


class Filing(Answer):
    """An EIA filing as the demo reads it (eia-svc's answers)."""

    id: str
    district: str
    quota_status: str


class Registration(Answer):
    status: str


class Complaint(Answer):
    """A complaint as the demo reads it (supervision-svc's receipt)."""

    id: str
    district: str
    status: str


class ComplaintReceipt(Answer):
    complaint: Complaint


PERMITS = TypeAdapter(Page[Permit])
FILING = TypeAdapter(Filing)
REGISTRATION = TypeAdapter(Registration)
COMPLAINT_RECEIPT = TypeAdapter(ComplaintReceipt)


class FindingRef(Answer):
    id: str


class Inspection(Answer):
    """An inspection as the demo reads it (its findings' ids)."""

    id: str
    findings: list[FindingRef]


INSPECTION = TypeAdapter(Inspection)
BAODI, JIZHOU, BINHAI, WUQING, XIQING = "120115", "120119", "120116", "120114", "120111"

#: VOCs baseline stock (存量基数), t/a, and a second credit six months ago.
VOCS_BASELINE = {
    "120101": ("6.000", None),
    "120102": ("9.500", None),
    "120103": ("8.000", None),
    "120104": ("12.000", "2.000"),
    "120105": ("10.500", None),
    "120106": ("7.000", None),
    "120110": ("235.000", "20.000"),
    "120111": ("298.000", "30.000"),
    "120112": ("186.000", "12.000"),
    "120113": ("264.000", "25.000"),
    "120114": ("412.000", "40.000"),
    BAODI: ("248.000", "18.000"),
    BINHAI: ("1850.000", "150.000"),
    "120117": ("142.000", None),
    "120118": ("176.000", "10.000"),
    JIZHOU: ("12.000", None),
}
NOX_BASELINE = {
    BINHAI: "2400.000",
    WUQING: "520.000",
    BAODI: "310.000",
    "120113": "330.000",
    XIQING: "360.000",
    JIZHOU: "40.000",
}
#: Offset ratios (倍量削减替代) other than the default 2.0: districts with
#: better air quality replace at 1.5.
RATIOS = {BINHAI: "1.50", "120117": "1.50", WUQING: "1.50"}

KEY_INDUSTRIES = ["2641", "2642", "2614", "3360", "3130", "2221", "1511", "2651"]
SIMPLIFIED_INDUSTRIES = ["2110", "2319", "1391", "3391", "4620", "2231"]
REGISTRATION_INDUSTRIES = ["2921", "2927", "3021", "3311", "3411", "3670", "1320", "1431", "1810"]
WORDS = [
    "华",
    "津",
    "宏",
    "泰",
    "盛",
    "鑫",
    "瑞",
    "博",
    "恒",
    "德",
    "兴",
    "达",
    "远",
    "通",
    "新",
    "安",
    "金",
    "宝",
    "丰",
    "源",
    "海",
    "嘉",
    "晟",
    "利",
    "润",
    "创",
    "众",
    "力",
    "鼎",
    "汇",
]
TRADES = {
    "2641": "涂料",
    "2642": "油墨",
    "2614": "化工",
    "3360": "表面处理",
    "3130": "钢材",
    "2221": "纸业",
    "1511": "酒业",
    "2651": "树脂",
    "2110": "家具",
    "2319": "印务",
    "1391": "淀粉",
    "3391": "铸造",
    "4620": "水务",
    "2231": "包装",
    "2921": "塑料薄膜",
    "2927": "塑料制品",
    "3021": "建材",
    "3311": "钢结构",
    "3411": "锅炉",
    "3670": "汽车零部件",
    "1320": "饲料",
    "1431": "食品",
    "1810": "服装",
}
TOWNS = {
    BAODI: ["宝平街道", "海滨街道", "大口屯镇", "大钟庄镇", "周良街道", "九园工业园区"],
    JIZHOU: ["渔阳镇", "洇溜镇", "邦均镇", "别山镇", "上仓镇"],
    BINHAI: ["南港工业区", "临港经济区", "开发区", "保税区"],
}


@dataclass
class Counts:
    done: dict[str, int] = field(default_factory=dict)

    def add(self, what: str, n: int = 1) -> None:
        self.done[what] = self.done.get(what, 0) + n


@dataclass
class Enterprise:
    uscc: str
    name: str
    district: str
    industry_code: str
    address: str


def enterprises(
    district: str, start: int, n: int, industries: list[str], rng: random.Random
) -> list[Enterprise]:
    towns = TOWNS.get(district, ["工业园区"])
    from svc_common.districts import DISTRICTS

    out = []
    for i in range(n):
        serial = start + i
        code = industries[i % len(industries)]
        brand = "".join(rng.sample(WORDS, 2))
        out.append(
            Enterprise(
                uscc=make_uscc(district, serial),
                name=f"天津{brand}{TRADES.get(code, '实业')}有限公司",
                district=district,
                industry_code=code,
                address=f"天津市{DISTRICTS[district]}{rng.choice(towns)}{rng.randint(1, 199)}号",
            )
        )
    # Brand names repeat by chance; the serial keeps names apart.
    seen: dict[str, int] = {}
    for e in out:
        seen[e.name] = seen.get(e.name, 0) + 1
        if seen[e.name] > 1:
            e.name = e.name.replace("有限公司", f"（{seen[e.name]}号厂）有限公司")
    return out


def _csv(rows: list[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue().encode()


def _ndjson(rows: list[dict[str, Any]]) -> bytes:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()


def month_start(now: dt.datetime, months_back: int) -> dt.datetime:
    local = now.astimezone(BEIJING)
    year, month = local.year, local.month - months_back
    while month <= 0:
        year, month = year - 1, month + 12
    return dt.datetime(year, month, 1, tzinfo=BEIJING)


class Demo:
    def __init__(
        self,
        api: Api,
        *,
        baodi_permits: int = 274,
        baodi_registrations: int = 4275,
        say: Callable[[str], None] = print,
        seed: int = 2026,
    ) -> None:
        self.api = api
        self.baodi_permits = baodi_permits
        self.baodi_registrations = baodi_registrations
        self.say = say
        self.rng = random.Random(seed)
        self.counts = Counts()
        self.now = dt.datetime.now(dt.UTC)

    def key(self, *parts: object) -> str:
        return "demo:" + ":".join(str(p) for p in parts)

    def steps(self) -> list[tuple[str, Callable[[], None]]]:
        return [
            ("quota baselines, ratios and reserves (总量基数、倍量替代、政府储备)", self.quota),
            ("parks with bundled EIA (多评合一园区)", self.parks),
            ("enterprises (固定污染源)", self.enterprises),
            ("permits and registrations of 宝坻区 (持证与登记)", self.permits),
            ("closed plants of 蓟州区 (关停企业收回指标)", self.closures),
            ("permit quality audits (许可质量审核)", self.audits),
            ("EIA filings in every state (环评审批)", self.filings),
            ("registration forms filed online (登记表备案)", self.registration_forms),
            ("12369 complaints (环保投诉)", self.complaints),
            ("inspections and an enforcement case (执法检查、立案查处)", self.inspections),
            ("performance grades and the guarantee list (绩效分级、保障类正面清单)", self.grading),
        ]

    def run(self) -> Counts:
        for title, step in self.steps():
            self.say(title)
            step()
        return self.counts

    # ---------------------------------------------------------------- quota
    def quota(self) -> None:
        first, second = month_start(self.now, 12), month_start(self.now, 6)
        for district, (base, extra) in VOCS_BASELINE.items():
            for n, (amount, when) in enumerate(((base, first), (extra, second))):
                if amount is None:
                    continue
                self._post(
                    f"/quota/pools/{district}/VOCs/baseline",
                    {"amount_t": amount, "effective_at": when.isoformat(), "note": "演示数据"},
                    key=self.key("baseline", district, "VOCs", n),
                )
                self.counts.add("baselines")
        for district, amount in NOX_BASELINE.items():
            self._post(
                f"/quota/pools/{district}/NOx/baseline",
                {"amount_t": amount, "effective_at": first.isoformat(), "note": "演示数据"},
                key=self.key("baseline", district, "NOx"),
            )
            self.counts.add("baselines")
        for district, ratio in RATIOS.items():
            self.api.call(
                "PUT",
                f"/quota/settings/{district}/VOCs",
                shape=UNREAD,
                json={"offset_ratio": ratio, "hold_days": 180},
            )
        for district, amount in ((BINHAI, "80.000"), (WUQING, "20.000")):
            self._post(
                f"/quota/pools/{district}/VOCs/transfers",
                {"source": "district", "target": "reserve", "amount_t": amount, "note": "政府储备"},
                key=self.key("reserve", district),
            )

    def parks(self) -> None:
        for body in (
            {
                "id": "nangang",
                "name": "天津南港工业区",
                "district": BINHAI,
                "covered_project_types": ["C2614", "C2641"],
                "vocs_subpool_t": "150.000",
            },
            {
                "id": "xiqing-auto",
                "name": "西青汽车工业园",
                "district": XIQING,
                "covered_project_types": ["C3670"],
                "vocs_subpool_t": "30.000",
            },
        ):
            try:
                self._post("/eia/parks", body, key=self.key("park", body["id"]))
            except ApiFailed as exc:
                if exc.status != 409:  # registered by an earlier run
                    raise
            self.counts.add("parks")

    # ------------------------------------------------------------- permits
    def _population(self) -> dict[str, list[Enterprise]]:
        rng = random.Random(7)
        return {
            "baodi_permit": enterprises(
                BAODI, 1, self.baodi_permits, KEY_INDUSTRIES + SIMPLIFIED_INDUSTRIES, rng
            ),
            "baodi_registration": enterprises(
                BAODI, 10_001, self.baodi_registrations, REGISTRATION_INDUSTRIES, rng
            ),
            "jizhou_permit": enterprises(
                JIZHOU, 1, 14, KEY_INDUSTRIES + SIMPLIFIED_INDUSTRIES, rng
            ),
            "jizhou_registration": enterprises(JIZHOU, 10_001, 60, REGISTRATION_INDUSTRIES, rng),
            "binhai_permit": enterprises(BINHAI, 1, 20, KEY_INDUSTRIES, rng),
        }

    def enterprises(self) -> None:
        rows = [
            {
                "uscc": e.uscc,
                "name": e.name,
                "district": e.district,
                "industry_code": e.industry_code,
                "address": e.address,
                "operating_status": "operating",
            }
            for group in self._population().values()
            for e in group
        ]
        for start in range(0, len(rows), 5000):
            chunk = rows[start : start + 5000]
            report = self.api.call(
                "POST",
                "/permit/enterprises:import",
                shape=BULK_REPORT,
                content=_csv(chunk),
                content_type="text/csv",
                key=self.key("enterprises", start, len(chunk)),
            )
            self._rows_ok(report, "enterprises")
            self.counts.add("enterprises", len(chunk))

    def _permit_rows(
        self, group: list[Enterprise], expiring: int, small: bool = False
    ) -> list[dict[str, Any]]:
        today = self.now.astimezone(BEIJING).date()
        rows = []
        for i, e in enumerate(group):
            if i < expiring:  # renewal reminders: ending within 60 days
                valid_to = today + dt.timedelta(days=7 + i * 9)
            else:
                valid_to = today + dt.timedelta(days=90 + (i * 37) % 1700)
            valid_from = valid_to - dt.timedelta(days=5 * 365)
            vocs = f"{0.6 + (i * 0.37) % 2.0:.3f}" if small else f"{0.4 + (i * 0.731) % 11.6:.3f}"
            pollutants = [{"pollutant": "VOCs", "amount_t": vocs}]
            if e.industry_code in KEY_INDUSTRIES:
                pollutants.append({"pollutant": "NOx", "amount_t": f"{1 + (i * 0.37) % 6:.3f}"})
            rows.append(
                {
                    "uscc": e.uscc,
                    "pollutants": pollutants,
                    "valid_from": valid_from.isoformat(),
                    "valid_to": valid_to.isoformat(),
                }
            )
        return rows

    def permits(self) -> None:
        pop = self._population()
        for name, expiring in (("baodi_permit", 6), ("jizhou_permit", 1), ("binhai_permit", 2)):
            rows = self._permit_rows(pop[name], expiring, small=name == "jizhou_permit")
            report = self.api.call(
                "POST",
                "/permit/permits:import",
                shape=BULK_REPORT,
                content=_ndjson(rows),
                content_type="application/x-ndjson",
                key=self.key("permits", name, len(rows)),
            )
            self._rows_ok(report, f"permits {name}")
            self.counts.add("permits", len(rows))
        for name in ("baodi_registration", "jizhou_registration"):
            group = pop[name]
            for start in range(0, len(group), 5000):
                chunk = [{"uscc": e.uscc} for e in group[start : start + 5000]]
                report = self.api.call(
                    "POST",
                    "/permit/registrations:import",
                    shape=BULK_REPORT,
                    content=_csv(chunk),
                    content_type="text/csv",
                    key=self.key("registrations", name, start, len(chunk)),
                )
                self._rows_ok(report, f"registrations {name}")
                self.counts.add("registrations", len(chunk))

    def _permit_ids(self, district: str) -> list[Permit]:
        return list(self.api.pages("/permit/permits", shape=PERMITS, params={"district": district}))

    def closures(self) -> None:
        """Three 蓟州区 plants close: their permits are cancelled for closure and
        quota-svc gets a reclaim candidate for each, waiting for an officer."""
        permits = sorted(self._permit_ids(JIZHOU), key=lambda p: p.uscc)
        for p in permits[-3:]:
            if p.status == "cancelled":
                continue
            self._post(
                f"/permit/permits/{p.id}/cancel",
                {"reason": "closure", "note": "企业关停，生产设施已拆除"},
                key=self.key("close", p.id),
            )
            self.counts.add("closures")
        # One reduction credit entered by hand by an officer: four eyes, so a
        # second officer of the district confirms it.
        self._post(
            "/quota/reclaims",
            {
                "district": JIZHOU,
                "pollutant": "VOCs",
                "amount_t": "0.600",
                "source": "reduction",
                "note": "深度治理减排：活性炭吸附改RTO，经监测核定",
            },
            key=self.key("reduction", JIZHOU),
            role="officer",
            districts=(JIZHOU,),
            sub="li.hua",
        )

    def audits(self) -> None:
        today = self.now.astimezone(BEIJING).date()
        permits = [p for p in self._permit_ids(BAODI) if p.status != "cancelled"][:12]
        for i, p in enumerate(permits):
            findings = []
            if i % 3 == 1:
                findings = [
                    {
                        "description": "许可排放量核算依据不足，未附物料衡算",
                        "rectification_deadline": (today + dt.timedelta(days=5 + i)).isoformat(),
                    }
                ]
            if i % 3 == 2:
                findings = [
                    {
                        "description": "自行监测方案缺少VOCs无组织排放监测点位",
                        "rectification_deadline": (today + dt.timedelta(days=20 + i)).isoformat(),
                    }
                ]
            self._post(
                f"/permit/permits/{p.id}/audits",
                {"result": "findings" if findings else "pass", "findings": findings},
                key=self.key("audit", p.id),
            )
            self.counts.add("audits")

    # ---------------------------------------------------------------- EIA
    def _filing(self, n: int, e: Enterprise | None, **over: Any) -> Filing:
        body = {
            "project_name": over.pop("project_name"),
            "uscc": e.uscc if e else make_uscc(over["district"], 50_000 + n),
            "enterprise_name": e.name if e else over.pop("enterprise_name", "天津某建设有限公司"),
            "project_type": "C3670",
            "category": "report_form",
            "vocs_increment_t": "0",
            "major_project": False,
        }
        body.update(over)
        result = self._post(
            "/eia/filings",
            body,
            shape=FILING,
            key=self.key("filing", n),
            role="filer",
            sub="demo-filing-bot",
        )
        self.counts.add("filings")
        return result

    def _act(
        self,
        filing: Filing,
        *actions: str,
        reason: str | None = None,
        green_channel: bool | None = None,
    ) -> Filing:
        """The review actions in turn; `reason` goes with the decision
        (approve, reject, withdraw), the only actions that take one;
        `green_channel` with accept, the officer's decision on a filing's
        major-project claim (绿色通道)."""
        for action in actions:
            if action in ("approve",):
                filing = self._settled(filing)
            takes_reason = action in ("approve", "reject", "withdraw")
            body: dict[str, Any] = {"reason": reason} if reason and takes_reason else {}
            if action == "accept" and green_channel is not None:
                body["green_channel"] = green_channel
            filing = self._post(
                f"/eia/filings/{filing.id}/{action}",
                body,
                shape=FILING,
                key=self.key("act", filing.id, action),
                role="officer",
                districts=(filing.district,),
                sub=f"officer.{filing.district}",
            )
        return filing

    def _settled(self, filing: Filing, within: float = 30.0) -> Filing:
        """The filing once quota-svc has answered its reservation (the saga
        goes through events: wait for it)."""
        deadline = time.monotonic() + within
        while True:
            f = self.api.call("GET", f"/eia/filings/{filing.id}", shape=FILING)
            if f.quota_status not in ("pending", "requested"):
                return f
            if time.monotonic() > deadline:
                raise TimeoutError(f"quota for filing {filing.id} not settled in {within} s")
            time.sleep(0.2)

    def filings(self) -> None:
        pop = self._population()
        jz, bd, bh = pop["jizhou_permit"], pop["baodi_permit"], pop["binhai_permit"]
        # 蓟州区: 12 t of VOCs; an approved project takes 5 t (2.5 × 2.0), a
        # secured one holds 3 t; the third asks 6 t of the 4 t left: blocked.
        approved = self._filing(
            1,
            jz[0],
            project_name="蓟州区家具喷涂线水性漆改造扩能项目",
            district=JIZHOU,
            project_type="C3360",
            vocs_increment_t="2.500",
        )
        self._act(approved, "accept", "evaluation-done", "review-done", "approve")
        secured = self._filing(
            2,
            jz[1],
            project_name="蓟州区汽车零部件涂装线项目",
            district=JIZHOU,
            vocs_increment_t="1.500",
        )
        self._act(secured, "accept", "evaluation-done")
        blocked = self._filing(
            3,
            jz[2],
            project_name="蓟州区包装印刷生产线扩建项目",
            district=JIZHOU,
            project_type="C2319",
            vocs_increment_t="3.000",
        )
        self._settled(self._act(blocked, "accept"))
        # 宝坻区 and 滨海新区: one filing at each step, decided ones too.
        waiting = [
            (bd[0], "宝坻区新能源汽车零部件涂装项目", "C3670", "1.200", ()),
            (bd[1], "宝坻区塑料薄膜生产线技术改造项目", "C2921", "0.800", ()),
            (bd[2], "宝坻区金属表面处理生产线项目", "C3360", "0.650", ("accept",)),
            (
                bd[3],
                "宝坻区钢压延加工酸洗线改造项目",
                "C3130",
                "0.300",
                ("accept", "evaluation-done"),
            ),
            (
                bd[4],
                "宝坻区纸制品包装生产线项目",
                "C2231",
                "0.900",
                ("accept", "evaluation-done", "review-done"),
            ),
            (
                bd[5],
                "宝坻区涂料分装车间项目",
                "C2641",
                "1.100",
                ("accept", "evaluation-done", "review-done", "approve"),
            ),
        ]
        for n, (e, name, ptype, vocs, acts) in enumerate(waiting, start=10):
            f = self._filing(
                n, e, project_name=name, district=BAODI, project_type=ptype, vocs_increment_t=vocs
            )
            self._act(f, *acts)
        rejected = self._filing(
            20,
            bd[6],
            project_name="宝坻区溶剂型油墨印刷项目",
            district=BAODI,
            project_type="C2319",
            vocs_increment_t="2.000",
        )
        self._act(
            rejected,
            "accept",
            "evaluation-done",
            "review-done",
            "reject",
            reason="选址位于大气环境重点管控单元，溶剂型原辅材料替代方案不足",
        )
        withdrawn = self._filing(
            21,
            bd[7],
            project_name="宝坻区淀粉制品加工项目",
            district=BAODI,
            project_type="C1391",
            vocs_increment_t="0.200",
        )
        self._post(
            f"/eia/filings/{withdrawn.id}/withdraw",
            {"reason": "建设单位调整投资计划"},
            key=self.key("withdraw", withdrawn.id),
            role="filer",
            sub="demo-filing-bot",
        )
        # Green channel (绿色通道): a major livelihood project whose claim the
        # officer confirmed on accepting it; a major infrastructure project
        # still waiting for the officer to accept it and decide its claim.
        green = self._filing(
            30,
            None,
            project_name="滨海新区第三人民医院改扩建工程",
            district=BINHAI,
            project_type="Q8411",
            enterprise_name="天津市滨海新区卫生健康委员会",
            major_project=True,
            major_kind="livelihood",
        )
        self._act(green, "accept", "evaluation-done", green_channel=True)
        self._filing(
            31,
            None,
            project_name="天津地铁11号线延伸工程",
            district=BINHAI,
            project_type="E4813",
            category="report",
            enterprise_name="天津轨道交通集团有限公司",
            major_project=True,
            major_kind="infrastructure",
        )
        # Bundled EIA (多评合一) in 南港工业区: draws on the park's sub-pool.
        bundled = self._filing(
            40,
            bh[0],
            project_name="南港工业区涂料产品生产项目",
            district=BINHAI,
            project_type="C2641",
            vocs_increment_t="4.000",
            park_id="nangang",
        )
        self._act(bundled, "accept", "approve")

    def registration_forms(self) -> None:
        rng = random.Random(11)
        kinds = ["Q8412", "C2011", "C1431", "F5261", "O8111", "R8770", "G5942", "C3311"]
        names = {
            "Q8412": "社区卫生服务中心改造项目",
            "C2011": "木材加工厂建设项目",
            "C1431": "面制品加工项目",
            "F5261": "汽车配件销售维修点项目",
            "O8111": "汽车维修服务站项目",
            "R8770": "全民健身中心项目",
            "G5942": "冷链物流仓储项目",
            "C3311": "钢结构件加工项目",
        }
        from svc_common.districts import DISTRICTS

        rows = []
        for i in range(80):
            district = rng.choice(list(DISTRICTS))
            kind = kinds[i % len(kinds)]
            rows.append(
                {
                    "row_key": f"demo-{i:03d}",
                    "project_name": f"{DISTRICTS[district]}{names[kind]}",
                    "uscc": make_uscc(district, 60_000 + i),
                    "enterprise_name": f"天津{''.join(rng.sample(WORDS, 2))}商贸有限公司",
                    "district": district,
                    "project_type": kind,
                    "vocs_increment_t": "0.050" if kind in ("O8111", "F5261") else "0",
                }
            )
        report = self._post(
            "/eia/registrations:bulk",
            None,
            shape=BULK_REPORT,
            key=self.key("forms"),
            role="filer",
            sub="demo-filing-bot",
            content=_csv(rows),
            content_type="text/csv",
        )
        self.counts.add("registration forms", report.totals.created + report.totals.replayed)
        first = next((r.id for r in report.results if r.id), None)
        if first:
            reg = self.api.call("GET", f"/eia/registrations/{first}", shape=REGISTRATION)
            if reg.status == "filed":
                self._post(
                    f"/eia/registrations/{first}/revoke",
                    {"reason": "事后抽查发现建设内容与备案信息不符"},
                    key=self.key("revoke", first),
                )

    # ----------------------------------------------------------- complaints
    def complaints(self) -> None:
        """12369 complaints as the platform's machine client posts them: two
        reports of one plant's odour in 蓟州区 (a cluster; the first accepted
        by the district's officer), a noise complaint received twelve days
        ago and not yet accepted (past its acceptance deadline), one
        rejected, and one in 宝坻区. Received on days before today: each
        day's run keys them by its date, so a run again the same day
        replays them."""
        pop = self._population()
        plant, baodi = pop["jizhou_permit"][4], pop["baodi_permit"][-1]
        today = self.now.astimezone(BEIJING).date()

        def received(days_back: int, hour: int, minute: int) -> str:
            day = today - dt.timedelta(days=days_back)
            return dt.datetime.combine(day, dt.time(hour, minute), BEIJING).isoformat()

        rows: list[tuple[dict[str, Any], tuple[str, ...]]] = [
            (
                {
                    "channel": "hotline",
                    "received_at": received(3, 21, 40),
                    "district": JIZHOU,
                    "address": plant.address,
                    "category": "odor",
                    "description": f"{plant.name}夜间排放刺鼻气味，附近居民无法开窗",
                    "uscc": plant.uscc,
                    "complainant": {"name": "刘先生", "phone": "13800000001"},
                },
                ("accept",),
            ),
            (
                {
                    "channel": "wechat",
                    "received_at": received(1, 22, 15),
                    "district": JIZHOU,
                    "address": plant.address,
                    "category": "odor",
                    "description": "化工厂晚上排气，味道刺鼻，已经好几天了",
                    "uscc": plant.uscc,
                    "complainant": {"name": "", "phone": "13800000002", "wants_reply": False},
                },
                (),
            ),
            (
                {
                    "channel": "web",
                    "received_at": received(12, 6, 30),
                    "district": JIZHOU,
                    "address": "天津市蓟州区渔阳镇文昌街工地",
                    "category": "noise",
                    "description": "工地凌晨施工，打桩噪声扰民",
                    "complainant": {"name": "王女士", "phone": "13800000003"},
                },
                (),
            ),
            (
                {
                    "channel": "letter",
                    "received_at": received(4, 10, 0),
                    "district": JIZHOU,
                    "address": "天津市蓟州区上仓镇",
                    "category": "other",
                    "description": "反映邻里纠纷，与环境无关",
                },
                ("reject",),
            ),
            (
                {
                    "channel": "hotline",
                    "received_at": received(2, 15, 5),
                    "district": BAODI,
                    "address": baodi.address,
                    "category": "air",
                    "description": f"{baodi.name}烟囱冒黑烟，粉尘落在附近小区",
                    "uscc": baodi.uscc,
                },
                (),
            ),
        ]
        for n, (body, acts) in enumerate(rows):
            receipt = self._post(
                "/supervision/complaints",
                body,
                shape=COMPLAINT_RECEIPT,
                key=self.key("complaint", today, n),
                role="filer",
                sub="demo-12369-bot",
            )
            self.counts.add("complaints")
            c = receipt.complaint
            for action in acts:
                self._post(
                    f"/supervision/complaints/{c.id}/{action}",
                    {"reason": "不属于生态环境部门职责范围，已告知向街道反映"}
                    if action == "reject"
                    else {},
                    key=self.key("complaint", c.id, action),
                    role="officer",
                    districts=(c.district,),
                    sub=f"officer.{c.district}",
                )

    # ---------------------------------------------------------- inspections
    def inspections(self, within: float = 30.0) -> None:
        """Two on-site inspections of 蓟州区 plants yesterday by two
        officers: one compliant, one finding the VOCs treatment's activated
        carbon long unchanged (serious), on which a rectification order is
        proposed by the district's officer and awaits another officer's
        decision (四眼原则). supervision-svc knows an enterprise once
        permit-svc has announced it (events): the plants are waited for.
        Each day's run keys them by its date."""
        pop = self._population()
        plants = pop["jizhou_permit"][5], pop["jizhou_permit"][6]
        today = self.now.astimezone(BEIJING).date()
        deadline = time.monotonic() + within
        for plant in plants:
            self._wait_known(plant.uscc, deadline)
        day = today - dt.timedelta(days=1)
        findings = [
            {
                "item": "treatment_facilities",
                "result": "problem",
                "note": "VOCs 治理设施活性炭吸附装置",
                "findings": [
                    {"description": "活性炭逾期未更换，吸附效率明显下降", "severity": "serious"}
                ],
            },
            {"item": "ledger", "result": "compliant"},
        ]
        compliant = [
            {"item": "ledger", "result": "compliant"},
            {"item": "permit_compliance", "result": "compliant"},
        ]
        for n, (plant, items) in enumerate(zip(plants, (compliant, findings), strict=True)):
            inspection = self._post(
                "/supervision/inspections",
                {
                    "uscc": plant.uscc,
                    "inspected_at": dt.datetime.combine(
                        day, dt.time(9 + 5 * n, 30), BEIJING
                    ).isoformat(),
                    "inspectors": ["李华", "陈静"],
                    "items": items,
                },
                shape=INSPECTION,
                key=self.key("inspection", today, n),
                role="officer",
                districts=(JIZHOU,),
                sub=f"officer.{JIZHOU}",
            )
            self.counts.add("inspections")
            for f in inspection.findings:
                self._post(
                    "/supervision/cases",
                    {
                        "finding_id": f.id,
                        "legal_basis": "《中华人民共和国大气污染防治法》第四十五条、第一百零八条",
                        "facts": "现场检查发现活性炭逾期未更换，VOCs 治理设施未正常运行",
                        "measure": {
                            "kind": "rectification",
                            "rectify_by": (today + dt.timedelta(days=30)).isoformat(),
                        },
                    },
                    key=self.key("case", f.id),
                    role="officer",
                    districts=(JIZHOU,),
                    sub=f"officer.{JIZHOU}",
                )
                self.counts.add("cases")

    # -------------------------------------------------------------- grading
    def grading(self) -> None:
        """The two 蓟州区 plants the inspections visited (supervision-svc
        knows them by then), graded for heavy-pollution-weather measures
        for this year (B级 the one, A级 the other), the A-grade plant with
        its own measure per alert level (一厂一策), and a third plant of the
        district on the guarantee list (保障类正面清单, 民生保障). Each a PUT
        of the year's values: a rerun in the year says the same, and
        supervision-svc records nothing new."""
        pop = self._population()
        coater, chemical, heating = (pop["jizhou_permit"][i] for i in (5, 6, 7))
        year = self.now.astimezone(BEIJING).year
        valid = {"valid_from": f"{year}-01-01", "valid_to": f"{year}-12-31"}
        for plant, grade, basis in (
            (coater, "B", f"{year} 年度重污染天气绩效分级评定：VOCs 治理设施运行基本稳定"),
            (chemical, "A", f"{year} 年度重污染天气绩效分级评定：超低排放改造已完成"),
        ):
            self._put(
                f"/supervision/grades/{plant.uscc}",
                {
                    "grade": grade,
                    "industry": "涂装" if grade == "B" else "化工",
                    **valid,
                    "basis": basis,
                },
                key=self.key("grade", plant.uscc, year),
            )
            self.counts.add("grades")
        for level, measure, note in (
            ("yellow", {"kind": "reduce", "percent": 20}, "黄色预警：限产 20%，错峰运输"),
            ("orange", {"kind": "stop_processes", "processes": ["喷涂"]}, "橙色预警：停喷涂工序"),
            ("red", {"kind": "stop"}, "红色预警：全厂停产，保留安全运行"),
        ):
            self._put(
                f"/supervision/plant-plans/{chemical.uscc}",
                {"level": level, "measure": measure, "note": note},
                key=self.key("plant-plan", chemical.uscc, level, year),
            )
        self._wait_known(heating.uscc)
        self._put(
            f"/supervision/guarantee-list/{heating.uscc}",
            {
                "reason": "livelihood",
                **valid,
                "allowed_measure": {"kind": "reduce", "percent": 10},
                "note": "冬季供热保障",
            },
            key=self.key("guarantee", heating.uscc, year),
        )
        self.counts.add("guarantee list")

    def _wait_known(self, uscc: str, deadline: float | None = None) -> None:
        """Until supervision-svc knows the enterprise (permit-svc's event),
        at most until `deadline` (time.monotonic(); 30 s from now)."""
        deadline = time.monotonic() + 30.0 if deadline is None else deadline
        while True:
            try:
                self.api.call("GET", f"/supervision/enterprises/{uscc}", shape=UNREAD)
                return
            except ApiFailed as exc:
                if exc.status != 404 or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _put(self, path: str, body: Any, *, key: str) -> None:
        """PUT `body` as 蓟州区's officer (the answer not read)."""
        self.api.call(
            "PUT",
            path,
            shape=UNREAD,
            json=body,
            key=key,
            role="officer",
            districts=(JIZHOU,),
            sub=f"officer.{JIZHOU}",
        )

    # -------------------------------------------------------------- helpers
    def _post(
        self,
        path: str,
        body: Any,
        *,
        key: str,
        shape: TypeAdapter[T] = UNREAD,
        role: str = "admin",
        districts: tuple[str, ...] = (),
        sub: str | None = None,
        content: bytes | None = None,
        content_type: str | None = None,
    ) -> T:
        """POST `body`; the answer read as `shape` (by default, not read)."""
        return self.api.call(
            "POST",
            path,
            shape=shape,
            json=body if content is None else None,
            content=content,
            content_type=content_type,
            key=key,
            role=role,
            districts=districts,
            sub=sub,
        )

    def _rows_ok(self, report: BulkReport, what: str) -> None:
        failed = report.totals.error + report.totals.conflict
        if failed:
            bad = [
                f"row {r.row}: " + "; ".join(f"{e.field}: {e.message}" for e in r.errors)
                for r in report.results
                if r.errors
            ][:3]
            self.say(f"  {what}: {failed} rows refused, e.g. {bad}")


def iter_steps(demo: Demo) -> Iterator[str]:
    for title, step in demo.steps():
        step()
        yield title
