"""HTTP API of the pre-acceptance checks: an application's checks judged
now, and a dry run of an application's body."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from svc_common.auth import Principal, require
from svc_common.db import Database
from svc_common.service import get_db
from svc_common.types import ResourceId, utcnow

from permit_svc.permits.schemas import PermitApplication
from permit_svc.prechecks import service
from permit_svc.prechecks.schemas import PrecheckReport
from permit_svc.settings import Settings, get_settings

router = APIRouter(prefix="/permit", tags=["pre-acceptance checks"])
WRITERS = ("officer", "admin")
READERS = ("officer", "admin", "auditor", "investment")


@router.get(
    "/permits/{permit_id}/prechecks",
    response_model=PrecheckReport,
    responses={
        409: {"description": "The permit is no application (`applied`): `state` says what it is"}
    },
)
async def application_prechecks(
    permit_id: ResourceId,
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> PrecheckReport:
    """An application's advisory checks (提示) judged again now; those judged
    when it was accepted are its `prechecks`. Only an application
    (`applied`) has them judged again: 409 otherwise."""
    return await service.live(
        db, principal, permit_id, utcnow(), settings.execution_reports_owed_from
    )


@router.post("/prechecks", response_model=PrecheckReport)
async def precheck_application(
    body: PermitApplication,
    principal: Principal = Depends(require(*WRITERS)),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> PrecheckReport:
    """A dry run of an application (许可申请受理前自动校验): the checks
    `POST /permit/permits` would judge, nothing written. What it would
    refuse is a failed check here (`accepted` false), not an error."""
    return await service.dry_run(
        db, principal, body, utcnow(), settings.execution_reports_owed_from
    )
