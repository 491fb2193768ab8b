"""Bulk filing of registrations, with a result per row."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common import outbox
from svc_common.audit import record_audit
from svc_common.auth import Principal
from svc_common.bulk import BulkReportBuilder
from svc_common.db import Database, dialect_insert
from svc_common.errors import FieldError
from svc_common.errors import validation_errors as pydantic_errors
from svc_common.events.schemas import permit as ev
from svc_common.i18n import msg

from permit_svc.bulk import RawRow, chunks
from permit_svc.calendar import local_today
from permit_svc.enterprises.models import Enterprise
from permit_svc.registrations.models import Registration
from permit_svc.registrations.schemas import RegistrationFiling
from permit_svc.registrations.service import (
    Filing,
    active_numbers,
    eligibility,
    filed_event,
    holds_permit_error,
    in_force_error,
    permits_in_force,
)


async def file_many(
    db: Database, principal: Principal, rows: list[RawRow], years: int, now: dt.datetime
) -> BulkReportBuilder:
    """Bulk filing: each row `created` (id and number of its registration) or
    `error`; valid rows are filed even when others fail."""
    report = BulkReportBuilder()
    parsed: list[tuple[RawRow, RegistrationFiling]] = []
    for raw in rows:
        if raw.data is None:
            report.error(raw.row, [FieldError(field=raw.field, message=raw.error or "unreadable")])
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
            # Locked, in one order, as a single filing and issuing a permit
            # lock their enterprise: of an upload and an issue (or a single
            # filing) for one enterprise at once, the second waits and then
            # sees the first's permit or registration.
            found = await s.scalars(
                select(Enterprise)
                .where(Enterprise.uscc.in_(chunk))
                .order_by(Enterprise.uscc)
                .with_for_update()
            )
            enterprises.update({e.uscc: e for e in found})
        filing = Filing(local_today(now), years)
        await filing.load(s, usccs)
        held = await permits_in_force(s, usccs)
        filed: list[tuple[int, dict[str, Any], ev.RegistrationFiled]] = []
        for raw, body in parsed:
            e = enterprises.get(body.uscc)
            errors = eligibility(e, principal)
            if not errors and body.uscc in filing.active:
                errors = [in_force_error(filing.active[body.uscc])]
            if not errors and body.uscc in held:
                errors = [holds_permit_error(held[body.uscc])]
            if errors or e is None:
                report.error(raw.row, errors, row_key=body.uscc)
                continue
            rec = filing.record(e, body.details, now)
            filed.append((raw.row, rec, filed_event(rec, e)))
        inserted = await _insert(s, [rec for _, rec, _ in filed])
        raced = [rec["uscc"] for _, rec, _ in filed if rec["id"] not in inserted]
        in_force = await active_numbers(s, raced) if raced else {}
        records, events = [], []
        for row, rec, event in filed:
            if rec["id"] in inserted:
                records.append(rec)
                events.append(event)
                no = rec["registration_no"]
                report.add(row, "created", row_key=rec["uscc"], id=rec["id"], number=no)
            else:  # taken meanwhile all the same (see _insert)
                no = in_force.get(rec["uscc"])
                report.error(row, [in_force_error(no) if no else _raced()], row_key=rec["uscc"])
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


async def _insert(s: AsyncSession, records: list[dict[str, Any]]) -> set[str]:
    """Insert the registrations; returns the ids inserted. The enterprises
    are locked before the checks, so a single filing cannot come in between
    them and this insert; should a registration conflict all the same (the
    enterprise's registration in force, or its next number, taken), it is
    skipped rather than failing the whole upload, and its row says so."""
    inserted: set[str] = set()
    stmt = dialect_insert(s, Registration).on_conflict_do_nothing().returning(Registration.id)
    for chunk in chunks(records):
        inserted.update(str(x) for x in (await s.execute(stmt, chunk)).scalars())
    return inserted


def _raced() -> FieldError:
    return FieldError(
        field="uscc",
        message=msg(
            "another request filed a registration for this enterprise meanwhile; "
            "send the row again",
            "另一请求同时为该企业办理了排污登记，请重新提交此行",
        ),
    )
