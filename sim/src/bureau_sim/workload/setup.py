"""The first day: district settings and baselines, the register, the
certificates already issued, parks, registrations."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from svc_common.districts import DISTRICTS

from bureau_sim.workload.city import DISTRICT_CODES, Enterprise, KnownPermit, Story

if TYPE_CHECKING:
    from bureau_sim.workload.base import Workload


async def setup(w: Workload) -> Story:
    """The first day: district settings and baselines, the register of
    fixed sources with the certificates already issued, parks,
    registrations. The rest of the year waits for it."""
    for part in (
        quota_settings(w),
        register(w),
        existing_permits(w),
        parks(w),
        registrations_upload(w),
    ):
        async for pause in part:
            yield pause
    w.city.ready = True


async def quota_settings(w: Workload) -> Story:
    rng = w.rng
    for d in DISTRICT_CODES:
        ratio = rng.choice(["1.0", "1.5", "2.0", "2.0", "2.5"])
        policy = {"offset_ratio": ratio, "hold_days": rng.randint(20, 120)}
        op = w.client.op(
            "quota",
            "PUT",
            f"/quota/settings/{d}/VOCs",
            w.admin,
            json_body=policy,
            effect="quota.settings.set",
        )
        async for pause in w.send(op):
            yield pause
        # Some districts are short of quota: filings there are blocked and retried.
        amount = rng.choice([3, 8, 15, 40, 120, 400])
        op = w.post(
            "quota",
            f"/quota/pools/{d}/VOCs/baseline",
            w.admin,
            {"amount_t": str(amount), "note": "存量基数"},
            "quota.baseline",
        )
        async for pause in w.send(op):
            yield pause


async def register(w: Workload) -> Story:
    """Thousands of fixed sources in one import."""
    rng, city = w.rng, w.city
    classes = sorted(city.industries)
    rows = []
    for _ in range(w.cfg.enterprises):
        d = rng.choice(DISTRICT_CODES)
        industry = rng.choice(classes)
        e = Enterprise(
            w.uscc(d),
            f"天津某企业{w._serial}有限公司",
            d,
            industry,
            city.industries[industry],
        )
        city.enterprises.append(e)
        rows.append({"uscc": e.uscc, "name": e.name, "district": d, "industry_code": industry})
    op = w._upload("permit", "/permit/enterprises:import", rows, "enterprise.import")
    async for pause in w.send(op):
        yield pause


async def existing_permits(w: Workload) -> Story:
    """Certificates issued before the register, expiring over the next years."""
    rng, city = w.rng, w.city
    holders = [e for e in city.enterprises if e.category in ("key", "simplified")]
    chosen = {e.uscc: e for e in rng.sample(holders, min(w.cfg.existing_permits, len(holders)))}
    today = w.today()
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
    op = w._upload("permit", "/permit/permits:import", rows, "permit.import")
    async for pause in w.send(op):
        yield pause
    if op.response is None or not op.response.ok:
        return
    for result, row in zip(op.response.body["results"], rows, strict=True):
        if result["result"] == "created":
            city.permits.append(
                KnownPermit(
                    result["id"],
                    row["uscc"],
                    chosen[row["uscc"]].district,
                    {x["pollutant"]: x["amount_t"] for x in row["pollutants"]},
                    dt.date.fromisoformat(row["valid_to"]),
                )
            )


async def parks(w: Workload) -> Story:
    """Parks with a bundled EIA and a VOCs sub-pool carved by quota-svc."""
    rng = w.rng
    covered = ["C2319", "C3670", "C2641", "C2231", "C3360"]
    for i, d in enumerate(rng.sample(DISTRICT_CODES, w.cfg.parks)):
        types = rng.sample(covered, 3)
        park_id = f"PARK-{d}-{i}"
        park = {
            "id": park_id,
            "name": f"{DISTRICTS[d]}工业园区{i}",
            "district": d,
            "covered_project_types": types,
            "vocs_subpool_t": str(rng.choice([1, 2, 5, 10])),
        }
        op = w.post("eia", "/eia/parks", w.admin, park, "park.register")
        async for pause in w.send(op):
            yield pause
        if op.status == 201:
            w.city.parks.append((park_id, d, types))


async def registrations_upload(w: Workload) -> Story:
    """Registration-managed sources file their registrations in one upload."""
    regs = [e for e in w.city.enterprises if e.category == "registration"]
    batch = w.rng.sample(regs, min(30, len(regs)))
    op = w._upload(
        "permit",
        "/permit/registrations:import",
        [{"uscc": e.uscc} for e in batch],
        "registration.file_many",
    )
    async for pause in w.send(op):
        yield pause
