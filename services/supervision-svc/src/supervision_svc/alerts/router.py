"""/supervision/alerts: heavy-pollution weather alerts and their measures."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy import select
from svc_common.auth import Principal, require
from svc_common.db import Database
from svc_common.districts import DistrictCode, district_named
from svc_common.errors import field_error
from svc_common.i18n import msg
from svc_common.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor, Page, keyset_after, keyset_page
from svc_common.service import get_db
from svc_common.types import RecordTime, ResourceId, utcnow

from supervision_svc.alerts import service
from supervision_svc.alerts.models import Alert
from supervision_svc.alerts.rules import State
from supervision_svc.alerts.schemas import (
    AlertIn,
    AlertLift,
    AlertMeasures,
    AlertOut,
    Level,
)
from supervision_svc.scope import READERS, WRITERS, district_param, visible_districts
from supervision_svc.settings import Settings, get_settings
from supervision_svc.validation import cursor_position

router = APIRouter(prefix="/supervision", tags=["alerts"])


OVERLAP: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "A district is already under an alert in this period that the "
        "request does not name in `replaces` (`overlapping` lists them)"
    }
}


@router.post("/alerts", status_code=201, response_model=AlertOut, responses=OVERLAP)
async def issue_alert(
    body: AlertIn,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
) -> AlertOut:
    """Issue an alert (yellow, orange, red) for districts and a period.

    One district is under one alert at a time: a period overlapping an alert
    in force in any of the districts is refused (409) unless `replaces`
    names it, which changes the level (升级/降级): the alerts named are
    lifted at this one's start, in the same transaction."""
    now = utcnow()
    async with db.transaction() as s:
        a = await service.issue(s, principal, body, now)
    return service.alert_out(a, now)


LIFTED: dict[int | str, dict[str, Any]] = {
    409: {"description": "The alert was already lifted, or (with no `at`) has already ended"}
}


@router.post("/alerts/{alert_id}/lift", response_model=AlertOut, responses=LIFTED)
async def lift_alert(
    alert_id: ResourceId,
    body: AlertLift | None = None,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
) -> AlertOut:
    """Lift an alert early (解除预警): it ends at `at` (default now), not
    before its start, before its planned end and not in the future; its
    measures and expected reductions then count the shortened period."""
    now = utcnow()
    async with db.transaction() as s:
        a = await service.lift(s, principal, alert_id, body or AlertLift(), now)
    return service.alert_out(a, now)


@router.get("/alerts", response_model=Page[AlertOut])
async def list_alerts(
    district: DistrictCode | None = None,
    state: State | None = None,
    level: Level | None = None,
    at: RecordTime | None = None,
    cursor: Cursor = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> Page[AlertOut]:
    """Alerts touching the caller's districts (or `district`), the latest
    start first, each with its `state` by the clock: in_force, upcoming,
    ended (its planned end passed) or lifted (ended early, or cancelled).
    `at`: the alerts in force at that instant (which alert was in force on
    a day); `state`, `level` and `at` combine."""
    now = utcnow()
    q = select(Alert)
    districts = visible_districts(principal, district)
    if districts is not None:
        q = q.where(service.touching(districts))
    if state:
        q = q.where(service.state_condition(state, now))
    if level:
        q = q.where(Alert.level == level)
    if at:
        q = q.where(service.in_force_condition(at))
    if cursor:
        position = cursor_position(cursor)
        q = q.where(keyset_after(position, Alert.starts_at, Alert.id, descending=True))
    q = q.order_by(Alert.starts_at.desc(), Alert.id.desc()).limit(limit + 1)
    async with db.session() as s:
        rows = list((await s.scalars(q)).all())
    return keyset_page(
        rows,
        limit,
        lambda a: [a.starts_at.isoformat(), a.id],
        lambda a: service.alert_out(a, now),
    )


async def _load(
    db: Database, principal: Principal, alert_id: str, district: str | None
) -> tuple[Alert, list[str]]:
    district = district_param(district)
    async with db.session() as s:
        a = service.found(principal, await s.get(Alert, alert_id[:64]), alert_id)
    visible = [d for d in a.districts if principal.may_act_in(d)]
    if district is not None:
        principal.require_district(district)
        if district not in a.districts:
            # Not an empty list: "no enterprise affected" would read as the
            # alert's verdict on a district it does not cover (a code mistyped).
            raise not_covered(district, a.districts)
        visible = [d for d in visible if d == district]
    return a, visible


def not_covered(district: str, covered: list[str]) -> Exception:
    """422 naming `district`: not one of the alert's districts, which are said."""
    en = ", ".join(district_named(d)[0] for d in covered)
    zh = "、".join(district_named(d)[1] for d in covered)
    return field_error(
        "district",
        msg(
            f"{district_named(district)[0]} is not under this alert (its districts: {en})",
            f"{district_named(district)[1]}不在该预警范围内（该预警的区：{zh}）",
        ),
        "district_not_in_alert",
    )


@router.get("/alerts/{alert_id}", response_model=AlertOut)
async def get_alert(
    alert_id: ResourceId,
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> AlertOut:
    """One alert, as the list gives it: with its `state` by the clock."""
    a, _ = await _load(db, principal, alert_id, None)
    return service.alert_out(a, utcnow())


NO_POLICY: dict[int | str, dict[str, Any]] = {
    409: {"description": "No emergency measures table is in force on the alert's day"}
}


@router.get("/alerts/{alert_id}/measures", response_model=AlertMeasures, responses=NO_POLICY)
async def alert_measures(
    alert_id: ResourceId,
    district: DistrictCode | None = None,
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> AlertMeasures:
    """Every affected enterprise with its required measure and why (grade,
    benchmark, guarantee list, 一厂一策), and the expected VOCs and NOx
    reductions per district from permitted amounts. `district`: one of the
    alert's districts only (another is a 422 naming the alert's)."""
    a, districts = await _load(db, principal, alert_id, district)
    async with db.session() as s:
        return await service.measures(s, a, districts, settings, utcnow())


@router.get(
    "/alerts/{alert_id}/measures.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}, **NO_POLICY},
)
async def alert_measures_csv(
    alert_id: ResourceId,
    district: DistrictCode | None = None,
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> Response:
    """The measures as CSV (UTF-8 with BOM) for district teams."""
    a, districts = await _load(db, principal, alert_id, district)
    async with db.session() as s:
        m = await service.measures(s, a, districts, settings, utcnow())
    name = f"alert-{a.id}-{'-'.join(districts)}.csv"
    return Response(
        service.to_csv(m),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
