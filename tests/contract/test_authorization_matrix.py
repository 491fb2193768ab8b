"""Least privilege, operation by operation (issue 9): every operation of the
four OpenAPI documents × every role (officer, investment, filer, admin,
auditor) holding a token scoped to one district (A) × a target in A or in
another district (B) × the caller's own filings or another filer's.

What must hold:
- a role the operation does not admit (its `x-roles`) gets 403;
- no role reads or writes in B, administrators scoped to A included (403 or
  404); lists and reports hold nothing of B, and `district=B` is refused or
  empty;
- a filer sees and acts on its own filings only;
- operations on a whole service (audit trail, clock, dead letters, outbox,
  classification tables, the emergency table) need a citywide token;
- where the role is admitted and the target is in A, the answer is not 403
  (each operation is really called: a check refusing everyone would
  otherwise pass), and a citywide administrator's call on B is accepted,
  proving the request was well formed.

Every operation needs a recipe (how to call it for a district and a filer):
one without a recipe fails the test, so a new endpoint is covered the day it
is added. Cost: one embedded system, ~1,800 requests in process (~40 s).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from svc_common import testing
from svc_common.uscc import make_uscc

from bureau.embedded import Embedded

A, B = "120119", "120115"  # 蓟州区: the callers' district; 宝坻区: another
C = "120116"  # 滨海新区: the far side of a swap (a swap concerns both its districts)
ROLES = ("officer", "investment", "filer", "admin", "auditor")
CITY_ADMIN = testing.auth("admin", sub="admin.city")
X, Y = "filer.x", "filer.y"
#: The Beijing day before today: its office hours are always past, whatever
#: the hour of the run (the services refuse facts recorded in the future, and
#: at 01:00 UTC it is already 09:00 of the next day in Beijing).
TODAY = (dt.datetime.now(ZoneInfo("Asia/Shanghai")) - dt.timedelta(days=1)).date()
SERVICES = ("permit", "quota", "eia", "supervision")
_serial = itertools.count(1)
#: Months a draw is for, each once (a district's period is drawn once; the
#: world's plans are of a whole year).
_months = (f"{2000 + n // 12}-{n % 12 + 1:02d}" for n in itertools.count())


def caller(role: str) -> dict[str, str]:
    """The token under test: scoped to A; a filer is X."""
    return testing.auth(role, [A], sub=X if role == "filer" else f"{role}.a")


World = dict[Any, Any]


@dataclass
class Req:
    method: str
    path: str
    json: Any = None
    params: dict[str, Any] | None = None
    content: bytes | None = None
    content_type: str | None = None


@dataclass
class Recipe:
    """How to call an operation for district `d` and filer `f`.

    kind: public (no token) | service (the whole service: citywide tokens
    only) | district (one district's record or write) | list (a list or
    report over districts) | open (reference data, no district)."""

    kind: str
    build: Callable[[World, str, str], Req]
    #: District records that also belong to a filer (eia filings).
    by_filer: bool = False
    #: How a target in B may be refused besides 403/404 (a record named in
    #: the body that the caller may not use is an unknown reference: 422).
    refused_as: tuple[int, ...] = (403, 404)
    #: Statuses the citywide administrator's call on B may give besides 2xx:
    #: the request was well formed, the record's state refuses it.
    control_ok: tuple[int, ...] = ()
    #: Roles the route admits that act on a record only when they made it
    #: (an eia filing's withdrawal is its applicant's): 403 in their own
    #: district too, for a record someone else made.
    makers_only: tuple[str, ...] = ()
    #: A 200 whose body is the refusal: a dry run answers what the real
    #: request would refuse (another district's record: unknown) as a check.
    refused_in_body: Callable[[Any], bool] | None = None


def _r(kind: str, method: str, path: Any, body: Any = None, **kw: Any) -> Recipe:
    def build(w: World, d: str, f: str) -> Req:
        p = path(w, d, f) if callable(path) else path
        b = body(w, d, f) if callable(body) else body
        return Req(method, p, json=b)

    return Recipe(kind, build, **kw)


def one(method: str, path: Any, body: Any = None, **kw: Any) -> Recipe:
    return _r("district", method, path, body, **kw)


def listing(path: str, *, by_district: bool = True) -> Recipe:
    """A list or report, asked for district B's records by `district=B`
    when it takes that filter (a query it does not take is refused as one)."""
    if not by_district:
        return Recipe("list", lambda w, d, f: Req("GET", path))
    return Recipe("list", lambda w, d, f: Req("GET", path, params={"district": d}))


def upload(path: str, text: Callable[[World, str, str], str], media: str = "text/csv") -> Recipe:
    return Recipe(
        "district",
        lambda w, d, f: Req("POST", path, content=text(w, d, f).encode(), content_type=media),
    )


# ---------------------------------------------------------------- recipes


def common_recipes(svc: str) -> dict[str, Recipe]:
    p = f"/{svc}"
    return {
        "health": Recipe("public", lambda w, d, f: Req("GET", f"{p}/health")),
        "ready": Recipe("public", lambda w, d, f: Req("GET", f"{p}/ready")),
        "metrics": Recipe("public", lambda w, d, f: Req("GET", f"{p}/metrics")),
        "eventSchemas": Recipe("public", lambda w, d, f: Req("GET", f"{p}/events/schemas")),
        "listAudit": _r("service", "GET", f"{p}/audit"),
        "readClock": _r("open", "GET", f"{p}/admin/clock"),
        # The embedded default runs on the system clock: moving it is a 409.
        "moveClock": _r(
            "service", "POST", f"{p}/admin/clock", {"advance": "P1D"}, control_ok=(409,)
        ),
        "listDeadLetters": _r("service", "GET", f"{p}/admin/dead-letters"),
        "showDeadLetter": _r("service", "GET", f"{p}/admin/dead-letters/1", control_ok=(404,)),
        "redriveDeadLetter": _r(
            "service", "POST", f"{p}/admin/dead-letters/1/redrive", control_ok=(404,)
        ),
        "discardDeadLetter": _r(
            "service",
            "POST",
            f"{p}/admin/dead-letters/1/discard",
            {"reason": "测试"},
            control_ok=(404,),
        ),
        "outboxStatus": _r("service", "GET", f"{p}/admin/outbox"),
    }


def _permit_path(w: World, d: str, f: str) -> str:
    return f"/permit/permits/{w['permit', d]}"


PERMIT: dict[str, Recipe] = {
    # The whole trail is citywide (a scoped token without target_id: 403);
    # one permit's trail is read in its district (an officer's too).
    "listAudit": Recipe(
        "district",
        lambda w, d, f: Req("GET", "/permit/audit", params={"target_id": w["permit", d]}),
    ),
    "listIndustries": _r("open", "GET", "/permit/industries"),
    "importIndustries": Recipe(
        "service",
        lambda w, d, f: Req(
            "POST", "/permit/industries:import", content=w["industry_csv"], content_type="text/csv"
        ),
    ),
    "createEnterprise": one(
        "POST",
        "/permit/enterprises",
        lambda w, d, f: {
            "uscc": make_uscc(d, 5000 + next(_serial)),
            "name": "新登记企业",
            "district": d,
            "industry_code": w["industry"],
        },
    ),
    "listEnterprises": listing("/permit/enterprises"),
    "importEnterprises": upload(
        "/permit/enterprises:import",
        lambda w, d, f: (
            "uscc,name,district,industry_code\n"
            f"{make_uscc(d, 6000 + next(_serial))},导入企业,{d},{w['industry']}\n"
        ),
    ),
    "changeEnterprise": one(
        "PATCH",
        lambda w, d, f: f"/permit/enterprises/{w['uscc', d]}",
        lambda w, d, f: {"address": f"新地址{next(_serial)}"},
    ),
    "getEnterprise": one("GET", lambda w, d, f: f"/permit/enterprises/{w['uscc', d]}"),
    "apply": one(
        "POST",
        "/permit/permits",
        lambda w, d, f: {
            "uscc": w["uscc", d],
            "pollutants": [{"pollutant": "SO2", "amount_t": "1"}],
        },
        control_ok=(409,),
        # Another district's enterprise is answered as an unknown code.
        refused_as=(403, 404, 422),
    ),
    "listPermits": listing("/permit/permits"),
    "importExisting": upload(
        "/permit/permits:import",
        lambda w, d, f: w["existing_permit_line"](d),
        media="application/x-ndjson",
    ),
    "issue": one("POST", lambda w, d, f: _permit_path(w, d, f) + "/issue", control_ok=(409,)),
    "reject": one(
        "POST",
        lambda w, d, f: _permit_path(w, d, f) + "/reject",
        {"reason": "材料不全"},
        control_ok=(409,),
    ),
    "change": one(
        "POST",
        lambda w, d, f: _permit_path(w, d, f) + "/change",
        {"pollutants": [{"pollutant": "NOx", "amount_t": "2"}], "reason": "扩建"},
        control_ok=(409,),
    ),
    "renew": one("POST", lambda w, d, f: _permit_path(w, d, f) + "/renew", control_ok=(409,)),
    "suspend": one(
        "POST",
        lambda w, d, f: _permit_path(w, d, f) + "/suspend",
        {"reason": "执法决定"},
        control_ok=(409,),
    ),
    "reinstate": one(
        "POST", lambda w, d, f: _permit_path(w, d, f) + "/reinstate", {}, control_ok=(409,)
    ),
    "revoke": one(
        "POST",
        lambda w, d, f: _permit_path(w, d, f) + "/revoke",
        {"reason": "依法撤销"},
        control_ok=(409,),
    ),
    "cancel": one(
        "POST",
        lambda w, d, f: _permit_path(w, d, f) + "/cancel",
        {"reason": "closure"},
        control_ok=(409,),
    ),
    "getPermit": one("GET", _permit_path),
    "fileRegistration": one(
        "POST",
        "/permit/registrations",
        lambda w, d, f: {"uscc": w["reg_uscc", d]},
        control_ok=(409,),
        refused_as=(403, 404, 422),
    ),
    "listRegistrations": listing("/permit/registrations"),
    "fileRegistrations": upload(
        "/permit/registrations:import", lambda w, d, f: f"uscc\n{w['reg_uscc', d]}\n"
    ),
    "changeRegistration": one(
        "POST",
        lambda w, d, f: f"/permit/registrations/{w['registration', d]}/change",
        {"details": {"产品": "家具"}, "reason": "信息变更"},
        control_ok=(409,),
    ),
    "cancelRegistration": one(
        "POST",
        lambda w, d, f: f"/permit/registrations/{w['registration', d]}/cancel",
        {"reason": "关停"},
        control_ok=(409,),
    ),
    "getRegistration": one("GET", lambda w, d, f: f"/permit/registrations/{w['registration', d]}"),
    "recordAudit": one(
        "POST",
        lambda w, d, f: _permit_path(w, d, f) + "/audits",
        {"result": "pass"},
        control_ok=(409,),
    ),
    "rectify": one(
        "POST",
        lambda w, d, f: "/permit/audits/{}/findings/{}/rectify".format(*w["audit", d]),
        {"note": "已整改"},
        control_ok=(409,),
    ),
    "listAudits": listing("/permit/audits"),
    # The seeded permit was issued today: last year's report is refused
    # (422, before its validity) once the caller may file it. A filer acts
    # for the enterprise its token names: the matrix's filer names none (403).
    "fileExecutionReport": one(
        "POST",
        lambda w, d, f: _permit_path(w, d, f) + "/execution-reports",
        {"period": str(TODAY.year - 1), "emissions": [{"pollutant": "NOx", "amount_t": "1"}]},
        control_ok=(422,),
        makers_only=("filer",),
    ),
    # The seeded permit is in force: its checks are judged again only for
    # an application, so a caller who may read them gets the 409.
    "applicationPrechecks": one(
        "GET", lambda w, d, f: _permit_path(w, d, f) + "/prechecks", control_ok=(409,)
    ),
    # A dry run answers another district's enterprise as an unknown code:
    # a 200 whose `accepted` is false, never a refusal that tells it exists.
    "precheckApplication": one(
        "POST",
        "/permit/prechecks",
        lambda w, d, f: {
            "uscc": w["uscc", d],
            "pollutants": [{"pollutant": "SO2", "amount_t": "1"}],
        },
        refused_in_body=lambda body: (
            not body["accepted"]
            and any(
                c["code"] == "enterprise_unknown" and not c["passed"] for c in body["prechecks"]
            )
        ),
    ),
    "listExecutionReports": one(
        "GET",
        lambda w, d, f: _permit_path(w, d, f) + "/execution-reports",
        makers_only=("filer",),
    ),
    "listMissedExecutionReports": listing("/permit/execution-reports/missed"),
    "coverage": listing("/permit/reports/coverage"),
    "auditProgress": listing("/permit/reports/audit-progress"),
    "listParkedFilings": listing("/permit/parked-filings"),
    # No filing is parked in the seeded world (its industries are all
    # classified): the roles are checked, and an unknown filing is a 404
    # in every district, as another district's is (test_parked_filings).
    "redriveParkedFiling": one(
        "POST",
        lambda w, d, f: f"/permit/parked-filings/EIA-NOT-PARKED-{d}/redrive",
        control_ok=(404,),
    ),
}


def _pool(w: World, d: str, f: str) -> str:
    return f"/quota/pools/{d}/VOCs"


def _adjustment(w: World, d: str, f: str) -> str:
    return f"/quota/pools/{d}/VOCs/adjustments/{w['adjustment', d]}"


QUOTA: dict[str, Recipe] = {
    "setPolicy": one(
        "PUT", lambda w, d, f: f"/quota/settings/{d}/VOCs", {"offset_ratio": "1.5", "hold_days": 30}
    ),
    "getPolicy": one("GET", lambda w, d, f: f"/quota/settings/{d}/VOCs"),
    "creditBaseline": one("POST", lambda w, d, f: _pool(w, d, f) + "/baseline", {"amount_t": "10"}),
    "transferBetweenPools": one(
        "POST",
        lambda w, d, f: _pool(w, d, f) + "/transfers",
        {"source": "district", "target": "reserve", "amount_t": "1"},
    ),
    "readJournal": listing("/quota/journal"),
    "readBalance": one("GET", lambda w, d, f: f"/quota/balances/{d}/VOCs"),
    "readBalanceHistory": Recipe(
        "list",
        lambda w, d, f: Req("GET", "/quota/balances", params={"district": d, "pollutant": "VOCs"}),
    ),
    "reconciliation": listing("/quota/reconciliation"),
    "proposeAdjustment": one(
        "POST", lambda w, d, f: _pool(w, d, f) + "/adjustments", {"amount_t": "1", "note": "核定"}
    ),
    "approveAdjustment": one(
        "POST", lambda w, d, f: _adjustment(w, d, f) + "/approve", control_ok=(409,)
    ),
    "rejectAdjustment": one(
        "POST", lambda w, d, f: _adjustment(w, d, f) + "/reject", control_ok=(409,)
    ),
    "readAdjustment": one("GET", _adjustment),
    "createReservation": one(
        "POST",
        "/quota/reservations",
        lambda w, d, f: {"district": d, "increment_t": "1", "project_ref": f"m-{next(_serial)}"},
    ),
    "allocateReservation": one(
        "POST",
        lambda w, d, f: f"/quota/reservations/{w['reservation', d]}/allocate",
        {},
        control_ok=(409,),
    ),
    "releaseReservation": one(
        "POST",
        lambda w, d, f: f"/quota/reservations/{w['reservation', d]}/release",
        {"reason": "撤回"},
        control_ok=(409,),
    ),
    "getReservation": one("GET", lambda w, d, f: f"/quota/reservations/{w['reservation', d]}"),
    "listReservations": listing("/quota/reservations"),
    "listReclaims": listing("/quota/reclaims"),
    "enterCandidate": one(
        "POST", "/quota/reclaims", lambda w, d, f: {"district": d, "amount_t": "1", "note": "关停"}
    ),
    # Only an officer of the district confirms or rejects a reclaim.
    "confirmReclaim": one(
        "POST", lambda w, d, f: f"/quota/reclaims/{w['reclaim', d]}/confirm", control_ok=(403, 409)
    ),
    "rejectReclaim": one(
        "POST",
        lambda w, d, f: f"/quota/reclaims/{w['reclaim', d]}/reject",
        {"reason": "不实"},
        control_ok=(403, 409),
    ),
    "readAvailability": listing("/quota/availability"),
    "whatIf": one("POST", "/quota/checks", lambda w, d, f: {"district": d, "increment_t": "1"}),
    # The caller's districts, by the token alone.
    "dashboardPage": listing("/quota/dashboard", by_district=False),
    # The ledger beyond the registries.
    "listPollutants": _r("open", "GET", "/quota/pollutants"),
    "reservationLineage": one(
        "GET", lambda w, d, f: f"/quota/reservations/{w['reservation', d]}/lineage"
    ),
    "listLots": listing("/quota/lots"),
    "readLot": one("GET", lambda w, d, f: f"/quota/lots/{w['lot', d]}"),
    "setAirQuality": one(
        "PUT", lambda w, d, f: f"/quota/air-quality/{d}", {"status": "slightly_exceeded"}
    ),
    "getAirQuality": one("GET", lambda w, d, f: f"/quota/air-quality/{d}"),
    "listRatios": _r("open", "GET", "/quota/air-quality-ratios"),
    # The ratio by air quality applies to every district.
    "setRatio": _r("service", "PUT", "/quota/air-quality-ratios/attained", {"offset_ratio": "1.5"}),
    "setAdvanceLimit": one(
        "PUT", lambda w, d, f: f"/quota/advance-limits/{d}/VOCs", {"limit_t": "5", "term_days": 90}
    ),
    "getAdvanceLimit": one("GET", lambda w, d, f: f"/quota/advance-limits/{d}/VOCs"),
    "listDebts": listing("/quota/debts"),
    # A swap concerns both its districts: one in A is A's, one between B and C is not.
    "proposeSwap": one(
        "POST",
        "/quota/swaps",
        lambda w, d, f: {"from": d, "to": C, "amount_t": "1", "reason": "调剂"},
        control_ok=(409,),
    ),
    "listSwaps": listing("/quota/swaps"),
    "approveSwap": one(
        "POST", lambda w, d, f: f"/quota/swaps/{w['swap', d]}/approve", control_ok=(403, 409)
    ),
    "cancelSwap": one(
        "POST",
        lambda w, d, f: f"/quota/swaps/{w['swap', d]}/cancel",
        {"reason": "撤回"},
        control_ok=(409,),
    ),
    "readSwap": one("GET", lambda w, d, f: f"/quota/swaps/{w['swap', d]}"),
    "listHoldings": listing("/quota/holdings"),
    # Trades need holdings on both sides; a well-formed request for a seller
    # with none is refused by the ledger's state.
    "proposeTrade": one(
        "POST",
        "/quota/trades",
        lambda w, d, f: {
            "seller": w["uscc", d],
            "buyer": w["reg_uscc", d],
            "district": d,
            "amount_t": "1",
            "price_cny_per_t": "1000",
            "contract_ref": f"HT-{next(_serial)}",
        },
        control_ok=(404, 409, 422),
    ),
    "approveTrade": one("POST", "/quota/trades/no-such-trade/approve", control_ok=(404,)),
    "cancelTrade": one(
        "POST", "/quota/trades/no-such-trade/cancel", {"reason": "撤回"}, control_ok=(404,)
    ),
    "readTrade": one("GET", "/quota/trades/no-such-trade", control_ok=(404,)),
    # The public register is public: every district's entries, for anyone.
    "readRegister": _r("open", "GET", "/quota/public/register"),
    "registerHead": _r("open", "GET", "/quota/public/head"),
    "exportLedger": _r("service", "GET", "/quota/export"),
    "importLedger": Recipe(
        "service",
        lambda w, d, f: Req("POST", "/quota/import", content=b"PK", content_type="application/zip"),
        control_ok=(409, 422),
    ),
}


def _eia_registration(d: str, n: int) -> dict[str, Any]:
    return {
        "project_name": f"社区卫生服务中心改造{n}",
        "uscc": make_uscc(d, 700 + n % 50),
        "enterprise_name": "某医疗服务有限公司",
        "district": d,
        "project_type": "Q8412",
        "vocs_increment_t": "0",
    }


def _eia_filing(d: str) -> dict[str, Any]:
    return {
        "project_name": "汽车零部件涂装线",
        "uscc": make_uscc(d, 800),
        "enterprise_name": "某汽车零部件有限公司",
        "district": d,
        "project_type": "C3670",
        "category": "report_form",
        "vocs_increment_t": "0",
    }


def _filer_one(method: str, path: Callable[[World, str, str], str], **kw: Any) -> Recipe:
    return Recipe("district", lambda w, d, f: Req(method, path(w, d, f)), by_filer=True, **kw)


EIA: dict[str, Recipe] = {
    "listProjectTypes": _r("open", "GET", "/eia/project-types"),
    "classifyProject": _r("open", "POST", "/eia/classify", {"project_type": "Q8412"}),
    "importProjectTypes": Recipe(
        "service",
        lambda w, d, f: Req(
            "POST",
            "/eia/project-types:import",
            content=w["project_types_csv"],
            content_type="text/csv",
        ),
    ),
    "putControlUnit": one(
        "PUT",
        lambda w, d, f: f"/eia/control-units/CU-{d}",
        lambda w, d, f: {
            "name": f"管控单元{d}",
            "district": d,
            "kind": "general_control",
            "rule": "一般管控",
        },
    ),
    # Published zoning and parks: reference data, readable in every district.
    "listControlUnits": _r("open", "GET", "/eia/control-units"),
    "fileRegistration": one(
        "POST", "/eia/registrations", lambda w, d, f: _eia_registration(d, next(_serial))
    ),
    "listRegistrations": listing("/eia/registrations"),
    "fileRegistrationsBulk": upload(
        "/eia/registrations:bulk",
        lambda w, d, f: (
            "project_name,uscc,enterprise_name,district,project_type\n"
            f"批量项目{next(_serial)},{make_uscc(d, 760)},某公司,{d},Q8412\n"
        ),
    ),
    "getRegistration": _filer_one(
        "GET", lambda w, d, f: f"/eia/registrations/{w['eia_reg', d, f]}"
    ),
    "getReceipt": _filer_one(
        "GET", lambda w, d, f: f"/eia/registrations/{w['eia_reg', d, f]}/receipt"
    ),
    # Public verification of a receipt: anyone holding its number and code.
    "verifyReceipt": Recipe(
        "public",
        lambda w, d, f: Req(
            "GET",
            f"/eia/public/receipts/{w['eia_receipt', d, f][0]}",
            params={"code": w["eia_receipt", d, f][1]},
        ),
    ),
    "publicReceipt": Recipe(
        "public",
        lambda w, d, f: Req(
            "GET",
            f"/eia/public/receipts/{w['eia_receipt', d, f][0]}/receipt",
            params={"code": w["eia_receipt", d, f][1]},
        ),
    ),
    "reviewQueue": listing("/eia/review-queue"),
    "clearCheck": _filer_one(
        "POST", lambda w, d, f: f"/eia/review-queue/{w['eia_reg', d, f]}/clear", control_ok=(409,)
    ),
    "revokeRegistration": Recipe(
        "district",
        lambda w, d, f: Req(
            "POST", f"/eia/registrations/{w['eia_reg', d, f]}/revoke", json={"reason": "不实"}
        ),
        by_filer=True,
        control_ok=(409,),
    ),
    "submitFiling": one("POST", "/eia/filings", lambda w, d, f: _eia_filing(d)),
    "listFilings": listing("/eia/filings"),
    **{
        op_id: Recipe(
            "district",
            lambda w, d, f, action=action, body=body: Req(
                "POST", f"/eia/filings/{w['filing', d, f]}/{action}", json=body
            ),
            by_filer=True,
            # Withdrawal is the applicant's (filings.rules.may_withdraw): a
            # reviewer who did not submit the filing is refused 403.
            control_ok=(409, 403) if action == "withdraw" else (409,),
            makers_only=("officer", "admin") if action == "withdraw" else (),
        )
        for op_id, action, body in (
            ("acceptFiling", "accept", None),
            ("completeFilingEvaluation", "evaluation-done", None),
            ("completeFilingReview", "review-done", None),
            ("approveFiling", "approve", {"reason": "同意"}),
            ("rejectFiling", "reject", {"reason": "不符合规划"}),
            ("withdrawFiling", "withdraw", {"reason": "项目取消"}),
            ("retryFilingQuota", "quota-retry", None),
        )
    },
    "getFiling": _filer_one("GET", lambda w, d, f: f"/eia/filings/{w['filing', d, f]}"),
    "listParks": _r("open", "GET", "/eia/parks"),
    # The parks' names, for the public quota register: anyone.
    "listParkNames": Recipe("public", lambda w, d, f: Req("GET", "/eia/public/parks")),
    "registerPark": one(
        "POST",
        "/eia/parks",
        lambda w, d, f: {
            "id": f"park-{d}-{next(_serial)}",
            "name": "某工业园区",
            "district": d,
            "covered_project_types": ["Q8412"],
            "vocs_subpool_t": "0",
        },
    ),
}


def _complaint(d: str) -> dict[str, Any]:
    return {
        "channel": "hotline",
        "received_at": f"{TODAY}T09:00:00+08:00",
        "district": d,
        "address": f"某路{next(_serial)}号",
        "category": "odor",
        "description": "夜间异味",
    }


def _demand(d: str) -> dict[str, Any]:
    return {
        "district": d,
        "title": f"企业诉求{next(_serial)}",
        "source": "visit",
        "owner": "王科长",
        "deadline": str(TODAY + dt.timedelta(days=30)),
    }


def _inspection(uscc: str) -> dict[str, Any]:
    return {
        "uscc": uscc,
        "inspected_at": f"{TODAY}T10:00:00+08:00",
        "inspectors": ["li.hua", "zhao.lei"],
        "items": [
            {"item": "ledger", "result": "problem", "findings": [{"description": "台账缺失"}]}
        ],
    }


def _case(finding_id: str) -> dict[str, Any]:
    return {
        "finding_id": finding_id,
        "legal_basis": "《大气污染防治法》",
        "measure": {"kind": "fine", "fine_cny": 10000},
    }


def _grade() -> dict[str, Any]:
    return {
        "grade": "B",
        "industry": "涂装",
        "valid_from": f"{TODAY.year}-01-01",
        "valid_to": f"{TODAY.year}-12-31",
        "basis": "绩效分级评定",
    }


def _guarantee() -> dict[str, Any]:
    return {
        "reason": "livelihood",
        "valid_from": f"{TODAY.year}-01-01",
        "valid_to": f"{TODAY.year}-12-31",
        "allowed_measure": {"kind": "none"},
    }


def _plant_plan() -> dict[str, Any]:
    return {"level": "orange", "measure": {"kind": "reduce", "percent": 30}, "note": "限产三成"}


def _alert(d: str, seed: bool = False) -> dict[str, Any]:
    """The seeded alert is in force now (it may be lifted); each issued one
    has its own earlier period, as one district is under one alert at a time."""
    start = dt.datetime.combine(TODAY, dt.time(8), dt.timezone(dt.timedelta(hours=8)))
    if not seed:
        start -= dt.timedelta(days=3 * next(_serial))
    return {
        "level": "orange",
        "districts": [d],
        "from": start.isoformat(),
        "to": (start + dt.timedelta(days=2)).isoformat(),
    }


def _u(w: World, d: str) -> str:
    return str(w["uscc", d])


SUPERVISION: dict[str, Recipe] = {
    "getEnterprise": one("GET", lambda w, d, f: f"/supervision/enterprises/{_u(w, d)}"),
    "listEnterprises": listing("/supervision/enterprises"),
    "receiveComplaint": one("POST", "/supervision/complaints", lambda w, d, f: _complaint(d)),
    "listComplaints": listing("/supervision/complaints"),
    "importComplaints": upload(
        "/supervision/complaints:import",
        lambda w, d, f: (
            "channel,received_at,district,address,category,description\n"
            f"hotline,{TODAY}T09:00:00+08:00,{d},某路{next(_serial)}号,noise,噪声\n"
        ),
    ),
    "rankClusters": listing("/supervision/complaints/clusters"),
    "getComplaint": one("GET", lambda w, d, f: f"/supervision/complaints/{w['complaint', d]}"),
    **{
        op_id: one(
            "POST",
            lambda w, d, f, action=action: f"/supervision/complaints/{w['complaint', d]}/{action}",
            body,
            control_ok=(409,),
        )
        for op_id, action, body in (
            ("acceptComplaint", "accept", {}),
            ("rejectComplaint", "reject", {"reason": "不属于受理范围"}),
            ("assignComplaint", "assign", {"officer": "li.hua"}),
            ("replyToComplaint", "reply", {"reply": "已核查处理"}),
            ("closeComplaint", "close", {"outcome": "substantiated"}),
            ("reopenComplaint", "reopen", {"reason": "群众再次反映"}),
        )
    },
    "complaintsReport": listing("/supervision/reports/complaints"),
    "createDemand": one("POST", "/supervision/demands", lambda w, d, f: _demand(d)),
    "listDemands": listing("/supervision/demands"),
    "importDemands": upload(
        "/supervision/demands:import",
        lambda w, d, f: (
            "district,title,source,owner,deadline\n"
            f"{d},诉求{next(_serial)},visit,王科长,{TODAY + dt.timedelta(days=30)}\n"
        ),
    ),
    "recordProgress": one(
        "PATCH",
        lambda w, d, f: f"/supervision/demands/{w['demand', d]}",
        {"progress_percent": 50},
        control_ok=(409,),
    ),
    "completeDemand": one(
        "POST", lambda w, d, f: f"/supervision/demands/{w['demand', d]}/done", {}, control_ok=(409,)
    ),
    "demandsReport": listing("/supervision/reports/demands"),
    "drawPlan": one(
        "POST",
        "/supervision/inspection-plans",
        lambda w, d, f: {"district": d, "period": next(_months), "count": 1},
    ),
    "listPlans": listing("/supervision/inspection-plans"),
    "getPlan": one("GET", lambda w, d, f: f"/supervision/inspection-plans/{w['plan', d]}"),
    "getPlanCandidates": one(
        "GET", lambda w, d, f: f"/supervision/inspection-plans/{w['plan', d]}/candidates"
    ),
    "recordInspection": one(
        "POST",
        "/supervision/inspections",
        lambda w, d, f: _inspection(_u(w, d)),
        # Another district's enterprise is answered as an unknown one.
        refused_as=(403, 404, 422),
    ),
    "listInspections": listing("/supervision/inspections"),
    "getInspection": one("GET", lambda w, d, f: f"/supervision/inspections/{w['inspection', d]}"),
    "enforcementReport": listing("/supervision/reports/enforcement"),
    "proposeCase": one(
        "POST",
        "/supervision/cases",
        lambda w, d, f: _case(w["finding", d]),
        control_ok=(409,),
        refused_as=(403, 404, 422),
    ),
    "listCases": listing("/supervision/cases"),
    # The four eyes: whoever proposed may not decide (the seeding admin
    # proposed, so the citywide control is refused with 409, as every
    # four-eyes refusal).
    "decideCase": one(
        "POST",
        lambda w, d, f: f"/supervision/cases/{w['case', d]}/decide",
        {"approve": False},
        control_ok=(409,),
    ),
    "closeCase": one(
        "POST",
        lambda w, d, f: f"/supervision/cases/{w['case', d]}/close",
        {"note": "结案"},
        control_ok=(409,),
    ),
    "getCase": one("GET", lambda w, d, f: f"/supervision/cases/{w['case', d]}"),
    "setGrade": one("PUT", lambda w, d, f: f"/supervision/grades/{_u(w, d)}", _grade()),
    "gradeHistory": one("GET", lambda w, d, f: f"/supervision/grades/{_u(w, d)}"),
    "listGrades": listing("/supervision/grades"),
    "putGuarantee": one(
        "PUT", lambda w, d, f: f"/supervision/guarantee-list/{_u(w, d)}", _guarantee()
    ),
    "removeGuarantee": one(
        "DELETE", lambda w, d, f: f"/supervision/guarantee-list/{_u(w, d)}", control_ok=(404,)
    ),
    "listGuarantees": listing("/supervision/guarantee-list"),
    "putPlantPlan": one(
        "PUT", lambda w, d, f: f"/supervision/plant-plans/{_u(w, d)}", _plant_plan()
    ),
    "getPlantPlans": one("GET", lambda w, d, f: f"/supervision/plant-plans/{_u(w, d)}"),
    "setPolicy": Recipe(
        "service",
        lambda w, d, f: Req("PUT", "/supervision/emergency-policy", json=w["policy"]),
    ),
    "getPolicy": _r("open", "GET", "/supervision/emergency-policy", control_ok=(404,)),
    "issueAlert": one("POST", "/supervision/alerts", lambda w, d, f: _alert(d)),
    "getAlert": one("GET", lambda w, d, f: f"/supervision/alerts/{w['alert', d]}"),
    "listAlerts": listing("/supervision/alerts"),
    # The first lift ends the alert: every later one is refused as lifted.
    "liftAlert": one(
        "POST", lambda w, d, f: f"/supervision/alerts/{w['alert', d]}/lift", {}, control_ok=(409,)
    ),
    "alertMeasures": one(
        "GET", lambda w, d, f: f"/supervision/alerts/{w['alert', d]}/measures", control_ok=(409,)
    ),
    "alertMeasuresCsv": one(
        "GET",
        lambda w, d, f: f"/supervision/alerts/{w['alert', d]}/measures.csv",
        control_ok=(409,),
    ),
}


RECIPES: dict[str, dict[str, Recipe]] = {
    "permit": {**common_recipes("permit"), **PERMIT},
    "quota": {**common_recipes("quota"), **QUOTA},
    "eia": {**common_recipes("eia"), **EIA},
    "supervision": {**common_recipes("supervision"), **SUPERVISION},
}
#: Uploads report a refused district per row (the request itself is 200).
UPLOADS = {"importEnterprises", "importExisting", "fileRegistrations", "fileRegistrationsBulk",
           "importComplaints", "importDemands"}  # fmt: skip


# ---------------------------------------------------------------- seeding


async def _ok(r: httpx.Response, *codes: int) -> Any:
    assert r.status_code in (codes or (200, 201)), (r.request.method, str(r.request.url), r.text)
    return r.json() if r.content else None


async def seed(c: httpx.AsyncClient) -> World:
    """One of each record in A and in B (eia filings by filer X and Y in A)."""
    w: World = {}
    h = CITY_ADMIN
    industries = await _ok(await c.get("/permit/industries", headers=h))
    w["industry"] = next(i["industry_code"] for i in industries if i["category"] != "registration")
    registers = next(i["industry_code"] for i in industries if i["category"] == "registration")
    w["industry_csv"] = (
        "industry_code,name,category\n"
        + "".join(f"{i['industry_code']},{i['name']},{i['category']}\n" for i in industries)
    ).encode()
    types = await _ok(await c.get("/eia/project-types", headers=h))
    w["project_types_csv"] = (
        "code,name,industry_code,category,rule\n"
        + "".join(
            f'{t["code"]},"{t["name"]}",{t["industry_code"]},{t["category"]},"{t["rule"]}"\n'
            for t in types
        )
    ).encode()
    w["existing_permit_line"] = lambda d: (
        json.dumps(
            {
                "uscc": make_uscc(d, 7000 + next(_serial)),
                "pollutants": [{"pollutant": "PM", "amount_t": "1"}],
                "valid_from": str(TODAY - dt.timedelta(days=365)),
                "valid_to": str(TODAY + dt.timedelta(days=1000)),
            }
        )
        + "\n"
    )
    levels = ("yellow", "orange", "red")
    tiers = ("benchmark_national", "benchmark_tianjin", "leading", "A", "B", "C", "D", "ungraded")
    w["policy"] = {
        # A table takes effect today or later (Beijing): two days after
        # TODAY (yesterday) is tomorrow, still ahead if the run passes midnight.
        "effective_from": str(TODAY + dt.timedelta(days=2)),
        "rules": [
            {"level": lv, "tier": t, "measure": {"kind": "none"}} for lv in levels for t in tiers
        ],
    }
    for d in (A, B):
        u, reg_u = make_uscc(d, 901), make_uscc(d, 902)
        w["uscc", d], w["reg_uscc", d] = u, reg_u
        for code, industry in ((u, w["industry"]), (reg_u, registers)):
            body = {
                "uscc": code,
                "name": f"企业{code[-4:]}",
                "district": d,
                "industry_code": industry,
            }
            await _ok(await c.post("/permit/enterprises", json=body, headers=h), 201)
        body = {"uscc": u, "pollutants": [{"pollutant": "NOx", "amount_t": "1"}]}
        permit = await _ok(await c.post("/permit/permits", json=body, headers=h), 201)
        w["permit", d] = permit["id"]
        await _ok(await c.post(f"/permit/permits/{permit['id']}/issue", headers=h))
        reg = await _ok(await c.post("/permit/registrations", json={"uscc": reg_u}, headers=h), 201)
        w["registration", d] = reg["id"]
        deadline = str(TODAY + dt.timedelta(days=30))
        finding = {"description": "台账不全", "rectification_deadline": deadline}
        audit = await _ok(
            await c.post(
                f"/permit/permits/{permit['id']}/audits",
                json={"result": "findings", "findings": [finding]},
                headers=h,
            ),
            201,
        )
        w["audit", d] = (audit["id"], audit["findings"][0]["id"])

        policy = {"offset_ratio": "1.5", "hold_days": 30}
        await _ok(await c.put(f"/quota/settings/{d}/VOCs", json=policy, headers=h))
        await _ok(
            await c.post(f"/quota/pools/{d}/VOCs/baseline", json={"amount_t": "500"}, headers=h),
            201,
        )
        adj = {"amount_t": "1", "note": "核定调整"}
        adj = await _ok(
            await c.post(f"/quota/pools/{d}/VOCs/adjustments", json=adj, headers=h), 201
        )
        w["adjustment", d] = adj["id"]
        ask = {"district": d, "increment_t": "1", "project_ref": f"seed-{d}"}
        w["reservation", d] = (
            await _ok(await c.post("/quota/reservations", json=ask, headers=h), 201)
        )["id"]
        lots = await _ok(await c.get("/quota/lots", params={"district": d}, headers=h))
        w["lot", d] = lots["items"][0]["id"]
        rec = {"district": d, "amount_t": "1", "note": "关停腾退"}
        w["reclaim", d] = (await _ok(await c.post("/quota/reclaims", json=rec, headers=h), 201))[
            "id"
        ]

        swap = {"from": d, "to": C, "amount_t": "1", "reason": "调剂"}
        w["swap", d] = (await _ok(await c.post("/quota/swaps", json=swap, headers=h), 201))["id"]
        for filer in (X, Y):
            who = testing.auth("filer", sub=filer)
            body = _eia_registration(d, next(_serial))
            r = await _ok(await c.post("/eia/registrations", json=body, headers=who), 201)
            w["eia_reg", d, filer] = r["filing_id"]
            w["eia_receipt", d, filer] = (r["filing_no"], r["check_code"])
            f = await _ok(await c.post("/eia/filings", json=_eia_filing(d), headers=who), 201)
            w["filing", d, filer] = f["id"]

    # supervision-svc learns the enterprises from permit-svc's events.
    for _ in range(400):
        seen = [
            (await c.get(f"/supervision/enterprises/{w['uscc', d]}", headers=h)).status_code
            for d in (A, B)
        ]
        if seen == [200, 200]:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("supervision-svc never learned the seeded enterprises")
    for d in (A, B):
        u = w["uscc", d]
        w["complaint", d] = (
            await _ok(await c.post("/supervision/complaints", json=_complaint(d), headers=h), 201)
        )["complaint"]["id"]
        w["demand", d] = (
            await _ok(await c.post("/supervision/demands", json=_demand(d), headers=h), 201)
        )["id"]
        plan = {"district": d, "period": str(TODAY.year), "count": 1}
        w["plan", d] = (
            await _ok(await c.post("/supervision/inspection-plans", json=plan, headers=h), 201)
        )["id"]
        insp = await _ok(
            await c.post("/supervision/inspections", json=_inspection(u), headers=h), 201
        )
        w["inspection", d] = insp["id"]
        w["finding", d] = insp["findings"][0]["id"]
        case = await _ok(
            await c.post("/supervision/cases", json=_case(w["finding", d]), headers=h), 201
        )
        w["case", d] = case["id"]
        # A second finding for proposeCase (one case per finding).
        insp = await _ok(
            await c.post("/supervision/inspections", json=_inspection(u), headers=h), 201
        )
        w["finding", d] = insp["findings"][0]["id"]
        await _ok(await c.put(f"/supervision/grades/{u}", json=_grade(), headers=h))
        await _ok(await c.put(f"/supervision/guarantee-list/{u}", json=_guarantee(), headers=h))
        await _ok(await c.put(f"/supervision/plant-plans/{u}", json=_plant_plan(), headers=h))
        w["alert", d] = (
            await _ok(
                await c.post("/supervision/alerts", json=_alert(d, seed=True), headers=h), 201
            )
        )["id"]
    return w


# ---------------------------------------------------------------- the matrix


@pytest.fixture(scope="module")
async def system() -> AsyncIterator[tuple[httpx.AsyncClient, World, dict[str, Any]]]:
    with tempfile.TemporaryDirectory(prefix="authz-") as data:
        embedded = Embedded(Path(data), log_json=False, log_level="WARNING")
        async with embedded.lifespan():
            transport = httpx.ASGITransport(app=embedded)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver", headers={"Accept-Language": "en"}
            ) as c:
                docs = {s: (await c.get(f"/{s}/openapi.json")).json() for s in SERVICES}
                yield c, await seed(c), docs


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    return [
        (op["operationId"], method.upper(), path, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


async def test_every_operation_has_a_recipe(
    system: tuple[httpx.AsyncClient, World, dict[str, Any]],
) -> None:
    _, _, docs = system
    missing, stale = [], []
    for svc, doc in docs.items():
        ids = {op_id for op_id, *_ in _operations(doc)}
        missing += [f"{svc}: {m}" for m in sorted(ids - set(RECIPES[svc]))]
        stale += [f"{svc}: {s}" for s in sorted(set(RECIPES[svc]) - ids)]
    assert not missing, (
        "operations the authorization matrix does not know how to call (add a recipe in "
        f"tests/contract/test_authorization_matrix.py): {missing}"
    )
    assert not stale, f"recipes for operations that no longer exist: {stale}"


async def _send(c: httpx.AsyncClient, req: Req, headers: dict[str, str] | None) -> httpx.Response:
    h = dict(headers or {})
    if req.content is not None:
        h["Content-Type"] = req.content_type or "text/csv"
        return await c.request(
            req.method, req.path, params=req.params, headers=h, content=req.content
        )
    if req.json is not None:
        return await c.request(req.method, req.path, params=req.params, headers=h, json=req.json)
    return await c.request(req.method, req.path, params=req.params, headers=h)


def _districts(body: Any) -> set[str]:
    """Every district a JSON answer mentions (keys `district` and `districts`)."""
    found: set[str] = set()
    if isinstance(body, dict):
        for k, v in body.items():
            if k == "district" and isinstance(v, str):
                found.add(v)
            elif k == "districts" and isinstance(v, list):
                found |= {x for x in v if isinstance(x, str)}
            else:
                found |= _districts(v)
    elif isinstance(body, list):
        for v in body:
            found |= _districts(v)
    return found


def _leaks_b(r: httpx.Response) -> bool:
    if r.headers.get("content-type", "").startswith("application/json"):
        return B in _districts(r.json())
    return B in r.text or "宝坻" in r.text


WRITTEN = {"created", "updated", "filed", "replayed", "imported"}


def _wrote_rows(body: Any) -> bool:
    """Whether a bulk answer says a row was written (a row result or status)."""
    if isinstance(body, dict):
        if body.get("result") in WRITTEN or body.get("status") in WRITTEN:
            return True
        return any(_wrote_rows(v) for v in body.values())
    if isinstance(body, list):
        return any(_wrote_rows(v) for v in body)
    return False


def _control(roles: list[str] | None) -> dict[str, str]:
    """A caller admitted everywhere in B: a citywide admin, or the operation's
    first role scoped to B."""
    if not roles or "admin" in roles:
        return CITY_ADMIN
    return testing.auth(roles[0], [B], sub=f"{roles[0]}.b")


@pytest.mark.parametrize("service", SERVICES)
async def test_no_role_crosses_its_districts_or_another_filers_records(
    system: tuple[httpx.AsyncClient, World, dict[str, Any]], service: str
) -> None:
    c, w, docs = system
    problems: list[str] = []
    calls = 0
    for op_id, method, path, op in _operations(docs[service]):
        recipe = RECIPES[service].get(op_id)
        if recipe is None:
            continue  # reported by test_every_operation_has_a_recipe
        roles: list[str] | None = op.get("x-roles")
        label = f"{method} {path} ({op_id})"

        def bad(who: str, what: str, r: httpx.Response, *, label: str = label) -> None:
            problems.append(f"{label} as {who}: {what}, got {r.status_code} {r.text[:160]}")

        if recipe.kind == "public":
            r = await _send(c, recipe.build(w, A, X), None)
            calls += 1
            if r.status_code >= 400:
                bad("anyone", "a public operation answers without a token", r)
            continue
        for role in ROLES:
            admitted = roles is None or role in roles
            who = caller(role)
            variants = [(A, X), (B, X)] + ([(A, Y)] if recipe.by_filer else [])
            if recipe.kind in ("service", "open"):
                variants = [(A, X)]
            for d, f in variants:
                req = recipe.build(w, d, f)
                if recipe.kind == "list" and d == A:
                    req.params = {k: v for k, v in (req.params or {}).items() if k != "district"}
                r = await _send(c, req, who)
                calls += 1
                if r.status_code >= 500:
                    bad(role, "never a 5xx", r)
                elif not admitted:
                    if r.status_code != 403:
                        bad(role, f"role not in {roles}: 403", r)
                elif recipe.kind == "service":
                    if r.status_code != 403:
                        bad(role, "a district-scoped token may not act on the whole service", r)
                elif recipe.kind == "open":
                    if r.status_code in (401, 403):
                        bad(role, "admitted: not refused", r)
                elif recipe.kind == "list":
                    if r.status_code == 403 and d == B:
                        continue
                    if r.status_code != 200:
                        bad(role, f"list for {'B' if d == B else 'own districts'}: 200", r)
                    elif _leaks_b(r):
                        bad(role, "a list or report shows another district's records", r)
                    elif role == "filer" and any(
                        str(w.get(("eia_reg", dd, Y))) in r.text
                        or str(w.get(("filing", dd, Y))) in r.text
                        for dd in (A, B)
                    ):
                        bad(role, "a filer's list shows another filer's filings", r)
                elif d == B or (f == Y and role == "filer"):
                    whose = "district B" if d == B else "another filer's record"
                    if op_id in UPLOADS:
                        if r.status_code not in (403, 404) and (
                            r.status_code >= 400 or _wrote_rows(r.json())
                        ):
                            bad(role, f"{whose}: refused (403, or every row refused)", r)
                    elif r.status_code not in recipe.refused_as and not (
                        r.status_code == 200
                        and recipe.refused_in_body is not None
                        and recipe.refused_in_body(r.json())
                    ):
                        bad(role, f"{whose}: refused {recipe.refused_as}", r)
                elif r.status_code == 401 or (
                    r.status_code == 403 and role not in recipe.makers_only
                ):
                    bad(role, "admitted in its own district: not refused", r)
        if recipe.kind in ("service", "open"):
            r = await _send(c, recipe.build(w, B, X), CITY_ADMIN)
        else:
            r = await _send(c, recipe.build(w, B, X), _control(roles))
        calls += 1
        if r.status_code >= 300 and r.status_code not in recipe.control_ok:
            bad("a citywide or district-B caller", "the request is well formed: accepted", r)
    assert calls > 0
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)
