"""Bulk filing of registrations, with a result per row."""

from __future__ import annotations

import datetime as dt
import uuid

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
from permit_svc.registrations.models import Registration
from permit_svc.registrations.schemas import RegistrationFiling
from permit_svc.registrations.service import Filing, eligibility, filed_event


async def file_many(
    db: Database, principal: Principal, rows: list[RawRow], years: int, now: dt.datetime
) -> BulkReportBuilder:
    """Bulk filing: each row `created` (id and number of its registration) or
    `error`; valid rows are filed even when others fail."""
    report = BulkReportBuilder()
    parsed: list[tuple[RawRow, RegistrationFiling]] = []
    for raw in rows:
        if raw.data is None:
            report.error(raw.row, [FieldError(field="row", message=raw.error or "unreadable")])
            continue
        try:
            parsed.append((raw, RegistrationFiling.model_validate(raw.data)))
        except ValidationError as exc:
            uscc = raw.data.get("uscc")
            report.error(
                raw.row,
                pydantic_errors(exc.errors()),
                row_key=uscc if isinstance(uscc, str) else None,
            )
    async with db.transaction() as s:
        usccs = sorted({b.uscc for _, b in parsed})
        enterprises: dict[str, Enterprise] = {}
        for chunk in chunks(usccs):
            found = await s.scalars(select(Enterprise).where(Enterprise.uscc.in_(chunk)))
            enterprises.update({e.uscc: e for e in found})
        filing = Filing(local_today(now), years)
        await filing.load(s, usccs)
        records, events = [], []
        for raw, body in parsed:
            e = enterprises.get(body.uscc)
            errors = eligibility(e, principal)
            if not errors and body.uscc in filing.active:
                no = filing.active[body.uscc]
                why = msg(
                    f"already has registration {no} in force", f"已有在有效期内的排污登记 {no}"
                )
                errors = [FieldError(field="uscc", message=why)]
            if errors or e is None:
                report.error(raw.row, errors, row_key=body.uscc)
                continue
            rec = filing.record(e, body.details, now)
            records.append(rec)
            events.append(filed_event(rec, e))
            report.add(
                raw.row,
                "created",
                row_key=body.uscc,
                id=rec["id"],
                number=rec["registration_no"],
            )
        for chunk in chunks(records):
            await s.execute(insert(Registration), chunk)
        await outbox.emit_many(s, events)
        record_audit(
            s,
            principal,
            "registration.file_many",
            "registration_import",
            str(uuid.uuid4()),
            {"received": len(rows), "created": len(records)},
        )
    return report
