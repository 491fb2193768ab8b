"""Import of certificates issued before this register (存量): they enter in
force with their own terms and draw no allocated quota, since their amounts
are part of the district's baseline stock. They come in once, for stock the
register does not hold yet: an enterprise that has a permit here that was
ever issued (in force, suspended, revoked, expired or cancelled) imports none
(cancelling an imported certificate frees its amounts for the district's
reclaim, so a second import would make quota from nothing). An application
never issued (`applied`, such as the draft an approved EIA filing opens for an
existing enterprise, or one refused) frees nothing and does not stand in the
way."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy import insert, select
from svc_common import outbox
from svc_common.audit import record_audit
from svc_common.auth import Principal
from svc_common.bulk import BulkReportBuilder
from svc_common.db import Database
from svc_common.errors import FieldError
from svc_common.errors import validation_errors as pydantic_errors
from svc_common.i18n import msg

from permit_svc.bulk import RawRow, chunks
from permit_svc.calendar import local_today
from permit_svc.enterprises.models import Enterprise
from permit_svc.enterprises.rules import (
    closed_message,
    holds_registration_message,
    needs_permit,
)
from permit_svc.permits import rules
from permit_svc.permits.models import Permit
from permit_svc.permits.schemas import ExistingPermit, limits_to_kg
from permit_svc.permits.service import issued_event, new_permit
from permit_svc.registrations.service import active_numbers

#: An enterprise's permit on the register that was ever issued: its status
#: and number. An application undecided or refused (rules.NEVER_ISSUED) was
#: never issued, and is not counted.
Held = tuple[str, str | None]


def _already_here(held: Held | None, earlier_row: int | None) -> FieldError | None:
    """Why an enterprise imports no certificate: a permit of it on the register
    that was ever issued (whatever its status now), or one an earlier row of
    this upload brings in."""
    if earlier_row is not None:
        return FieldError(
            field="uscc",
            message=msg(
                f"appears again: row {earlier_row} of this upload already brings in its "
                "permit (an enterprise's existing certificate comes in once)",
                f"重复出现：本次导入第 {earlier_row} 行已导入该企业的许可证"
                "（存量许可证每家企业只导入一次）",
            ),
        )
    if held is None:
        return None
    status, number = held
    what_en = f"permit {number}" if number else "a permit"
    what_zh = f"排污许可证 {number}" if number else "排污许可证"
    return FieldError(
        field="uscc",
        message=msg(
            f"already has {what_en} ({status}) in this system: existing certificates come in "
            "only for enterprises never issued a permit here (change, renew or apply instead)",
            f"本系统已有该企业的{what_zh}（{rules.LABELS_ZH.get(status, status)}）："
            "存量许可证只能为本系统中从未核发过许可证的企业导入（请办理变更、延续或重新申请）",
        ),
    )


def _problems(
    e: Enterprise | None,
    body: ExistingPermit,
    principal: Principal,
    already: FieldError | None,
    registered: dict[str, str],
    numbers_in_use: set[str],
    today: dt.date,
) -> list[FieldError]:
    """Every reason this row cannot enter the register, named by field;
    `already` is why its enterprise imports none, if it does not. An
    enterprise outside the caller's districts is answered as one that is
    not here (`Principal.require_found`): nothing about it (that it exists,
    closed, under registration, its permits) is told to an officer who may
    not act there."""
    if e is not None and not principal.may_act_in(e.district):
        e, already = None, None
    errors = []
    if e is None:
        errors.append(
            FieldError(
                field="uscc",
                message=msg("no enterprise has this code here", "本系统没有该代码的企业"),
            )
        )
    elif e.operating_status == "closed":
        errors.append(FieldError(field="uscc", message=closed_message()))
    elif not needs_permit(e.category):
        errors.append(
            FieldError(
                field="uscc",
                message=msg(
                    "is under registration management: it files a registration, not a permit",
                    "实行登记管理：应排污登记，不申领许可证",
                ),
            )
        )
    elif body.uscc in registered:
        errors.append(
            FieldError(field="uscc", message=holds_registration_message(registered[body.uscc]))
        )
    elif already is not None:
        errors.append(already)
    if body.valid_to < today:
        errors.append(
            FieldError(
                field="valid_to",
                message=msg("is past: the permit has expired", "已过期：该许可证已失效"),
            )
        )
    if body.permit_no and body.permit_no in numbers_in_use:
        errors.append(FieldError(field="permit_no", message=msg("is already in use", "已被使用")))
    return errors


async def import_permits(
    db: Database, principal: Principal, rows: list[RawRow], now: dt.datetime
) -> BulkReportBuilder:
    """Each row `created` (id and number of the permit entered) or `error`."""
    today = local_today(now)
    parsed: list[tuple[RawRow, ExistingPermit]] = []
    report = BulkReportBuilder()
    for raw in rows:
        if raw.data is None:
            report.error(raw.row, [FieldError(field=raw.field, message=raw.error or "")])
            continue
        try:
            parsed.append((raw, ExistingPermit.model_validate(raw.data)))
        except ValidationError as exc:
            uscc = raw.data.get("uscc")
            report.error(
                raw.row,
                pydantic_errors(exc.errors()),
                row_key=uscc if isinstance(uscc, str) else None,
            )
    async with db.transaction() as s:
        usccs = sorted({body.uscc for _, body in parsed})
        enterprises: dict[str, Enterprise] = {}
        #: Each enterprise's permit on the register that was ever issued (the
        #: one in force if it has one, else any other ever issued).
        held: dict[str, Held] = {}
        #: The row of this upload that brought an enterprise's permit in.
        brought_in: dict[str, int] = {}
        sequences: dict[str, int] = {}
        numbers_in_use: set[str] = set()
        for chunk in chunks(usccs):
            enterprises.update(
                {
                    e.uscc: e
                    for e in (
                        await s.scalars(
                            # Locked, in one order, as issuing a permit locks
                            # its enterprise: of two writes giving an
                            # enterprise a permit in force, the second waits
                            # and then sees the first's.
                            select(Enterprise)
                            .where(Enterprise.uscc.in_(chunk))
                            .order_by(Enterprise.uscc)
                            .with_for_update()
                        )
                    ).all()
                }
            )
            for uscc, status, no in await s.execute(
                select(Permit.uscc, Permit.status, Permit.permit_no).where(Permit.uscc.in_(chunk))
            ):
                if status not in rules.NEVER_ISSUED and (
                    uscc not in held or status in rules.IN_FORCE
                ):
                    held[uscc] = (status, no)
                if no:
                    numbers_in_use.add(no)
                    sequences[uscc] = max(sequences.get(uscc, 0), int(no[18:21]))
        registered = await active_numbers(s, usccs)
        new_rows: list[dict[str, Any]] = []
        events = []
        for raw, body in parsed:
            e = enterprises.get(body.uscc)
            already = _already_here(held.get(body.uscc), brought_in.get(body.uscc))
            errors = _problems(e, body, principal, already, registered, numbers_in_use, today)
            if errors or e is None:
                report.error(raw.row, errors, row_key=body.uscc)
                continue
            seq = sequences.get(body.uscc, 0) + 1
            permit_no = body.permit_no or rules.permit_number(body.uscc, seq)
            sequences[body.uscc] = max(seq, int(permit_no[18:21]))
            numbers_in_use.add(permit_no)
            brought_in[body.uscc] = raw.row
            p = new_permit(e, limits_to_kg(body.pollutants), now)
            p.status, p.last_action, p.permit_no = "issued", "import", permit_no
            p.valid_from, p.valid_to = body.valid_from, body.valid_to
            p.in_force_from = body.valid_from
            new_rows.append({c.key: getattr(p, c.key) for c in Permit.__table__.columns})
            events.append(issued_event(p, e))
            report.add(raw.row, "created", row_key=body.uscc, id=p.id, number=permit_no)
        for chunk in chunks(new_rows):
            await s.execute(insert(Permit), chunk)
        await outbox.emit_many(s, events)
        record_audit(
            s,
            principal,
            "permit.import",
            "permit_import",
            str(uuid.uuid4()),
            {"received": len(rows), "created": len(new_rows)},
        )
    return report
