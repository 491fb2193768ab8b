"""Availability API (for investment staff), the what-if check and the dashboard."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from fastapi.responses import HTMLResponse
from svc_common.answers import answer_data
from svc_common.auth import Principal, require
from svc_common.districts import DistrictCode
from svc_common.errors import field_error
from svc_common.service import Runtime, runtime
from svc_common.types import tonnes_to_kg, utcnow

from quota_svc.api import READERS, PollutantQuery, check_pollutant, readable_districts
from quota_svc.availability import dashboard, rules
from quota_svc.availability.schemas import CheckIn, CheckOut, PoolAvailability
from quota_svc.availability.service import availability
from quota_svc.ledger.models import Pool
from quota_svc.ledger.rules import VOCS, Balance
from quota_svc.ledger.service import PoolRef, balance_of, park_problem
from quota_svc.policy.service import default_policy, policy_in_force
from quota_svc.settings import Settings

router = APIRouter(prefix="/quota", tags=["availability"])


@router.get("/availability", response_model=list[PoolAvailability])
async def read_availability(
    district: DistrictCode | None = None,
    pollutant: PollutantQuery = VOCS,
    principal: Principal = Depends(require(*READERS)),
    rt: Runtime = Depends(runtime),
) -> Response:
    """Per pool: credited, reserved, allocated, available, reclaimed, the ratio in
    force and the largest project increment that fits. No district: every
    district the caller may read."""
    districts = readable_districts(principal, district)
    check_pollutant(pollutant)
    assert isinstance(rt.settings, Settings)
    rows = await availability(rt.db, districts, pollutant, default_policy(rt.settings))
    # Plain rows, written once: the investment staff's default view lists every district.
    return answer_data([PoolAvailability.row(p, a) for p, a in rows])


@router.post("/checks", response_model=CheckOut)
async def what_if(
    body: CheckIn,
    principal: Principal = Depends(require(*READERS)),
    rt: Runtime = Depends(runtime),
) -> CheckOut:
    """Would this project fit now? Writes nothing.

    Beyond the schema (422 naming the field): a `park_id` must be a park
    registered in the district."""
    principal.require_district(body.district)
    assert isinstance(rt.settings, Settings)
    ref = (
        PoolRef.park(body.district, body.pollutant, body.park_id)
        if body.park_id
        else PoolRef.district_pool(body.district, body.pollutant)
    )
    increment = tonnes_to_kg(body.increment_t)
    async with rt.db.session() as s:
        if body.park_id and (problem := await park_problem(s, body.district, body.park_id)):
            raise field_error("park_id", problem)
        policy = await policy_in_force(
            s, body.district, body.pollutant, utcnow(), default_policy(rt.settings)
        )
        pool = await s.get(Pool, ref.id)
    available = balance_of(pool).available if pool else Balance().available
    c = rules.check(increment, policy.offset_ratio_hundredths, available)
    return CheckOut.of(ref.id, increment, policy.offset_ratio_hundredths, c)


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard_page(
    pollutant: PollutantQuery = VOCS,
    principal: Principal = Depends(require(*READERS)),
    rt: Runtime = Depends(runtime),
) -> HTMLResponse:
    """All districts' pools in one table (server-rendered, no script)."""
    check_pollutant(pollutant)
    assert isinstance(rt.settings, Settings)
    districts = readable_districts(principal, None)
    rows = await availability(
        rt.db, districts, pollutant, default_policy(rt.settings), district_pools_only=True
    )
    return HTMLResponse(dashboard.render(rows, pollutant, utcnow()))
