"""Bulk filing of registrations, with a result per row."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import ValidationError
from sqlalchemy import insert, select
from svc_common import outbox
from svc_common.audit import record_audit
from svc_common.auth import Principal
from svc_common.db import Database
from svc_common.errors import FieldError
from svc_common.errors import validation_errors as pydantic_errors

from permit_svc.bulk import RawRow, chunks
from permit_svc.calendar import local_today
from permit_svc.enterprises.models import Enterprise
from permit_svc.registrations.models import Registration
from permit_svc.registrations.schemas import (
    RegistrationFiling,
    RegistrationImportReport,
    RegistrationImportRow,
)
from permit_svc.registrations.service import Filing, eligibility, filed_event


async def file_many(
    db: Database, principal: Principal, rows: list[RawRow], years: int, now: dt.datetime
) -> RegistrationImportReport:
    """Bulk filing: per-row results, valid rows filed even when others fail."""
    results: dict[int, RegistrationImportRow] = {}
    parsed: list[tuple[RawRow, RegistrationFiling]] = []
    for raw in rows:
        if raw.data is None:
            err = [FieldError(field="row", message=raw.error or "unreadable")]
            results[raw.row] = RegistrationImportRow(row=raw.row, result="error", errors=err)
            continue
        try:
            parsed.append((raw, RegistrationFiling.model_validate(raw.data)))
        except ValidationError as exc:
            results[raw.row] = RegistrationImportRow(
                row=raw.row,
                uscc=str(raw.data.get("uscc")),
                result="error",
                errors=pydantic_errors(exc.errors()),
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
                msg = f"already has registration {filing.active[body.uscc]} in force"
                errors = [FieldError(field="uscc", message=msg)]
            if errors or e is None:
                results[raw.row] = RegistrationImportRow(
                    row=raw.row, uscc=body.uscc, result="error", errors=errors
                )
                continue
            rec = filing.record(e, body.details, now)
            records.append(rec)
            events.append(filed_event(rec, e))
            results[raw.row] = RegistrationImportRow(
                row=raw.row,
                uscc=body.uscc,
                result="created",
                registration_id=rec["id"],
                registration_no=rec["registration_no"],
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
    return RegistrationImportReport(
        received=len(rows),
        created=len(records),
        failed=len(rows) - len(records),
        rows=[results[r.row] for r in rows],
    )
