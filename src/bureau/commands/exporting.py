"""`bureau export WHAT`: a list from the services' APIs as CSV or .xlsx."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from bureau.client import PAGE
from bureau.commands.common import (
    ApiOption,
    TokenOption,
    api,
    console,
    writable,
    write_failed,
    write_table,
)


class What(StrEnum):
    permits = "permits"
    registrations = "registrations"
    filings = "filings"
    registration_forms = "registration-forms"
    journal = "journal"
    enterprises = "enterprises"


#: Path, role that reads it, and the columns written (in order).
SOURCES: dict[What, tuple[str, str, list[str]]] = {
    What.permits: (
        "/permit/permits",
        "admin",
        [
            "id",
            "permit_no",
            "uscc",
            "enterprise_name",
            "district",
            "category",
            "status",
            "vocs_t",
            "quota_drawn_t",
            "valid_from",
            "valid_to",
            "pollutants",
        ],
    ),
    What.registrations: (
        "/permit/registrations",
        "admin",
        [
            "id",
            "registration_no",
            "uscc",
            "enterprise_name",
            "district",
            "status",
            "valid_from",
            "valid_to",
        ],
    ),
    What.filings: (
        "/eia/filings",
        "admin",
        [
            "id",
            "project_ref",
            "project_name",
            "uscc",
            "enterprise_name",
            "district",
            "project_type",
            "category",
            "channel",
            "status",
            "vocs_increment_t",
            "quota_status",
            "quota_shortfall_t",
            "quota_allocated_t",
            "created_at",
            "accepted_at",
            "due_at",
            "decided_at",
        ],
    ),
    What.registration_forms: (
        "/eia/registrations",
        "admin",
        [
            "id",
            "filing_no",
            "project_name",
            "uscc",
            "enterprise_name",
            "district",
            "project_type",
            "vocs_increment_t",
            "status",
            "review_status",
            "filed_at",
            "revoked_at",
            "revoke_reason",
            "check_code",
        ],
    ),
    What.journal: (
        "/quota/journal",
        "auditor",
        [
            "id",
            "pool_id",
            "code",
            "amount_t",
            "reason",
            "reservation_id",
            "reclaim_id",
            "effective_at",
            "recorded_at",
            "credited_after_t",
            "reserved_after_t",
            "allocated_after_t",
            "available_after_t",
            "actor",
            "note",
        ],
    ),
    What.enterprises: (
        "/permit/enterprises",
        "admin",
        ["uscc", "name", "district", "industry_code", "category", "address", "operating_status"],
    ),
}


def export_list(
    what: Annotated[What, typer.Argument(help="which list")],
    out: Annotated[Path | None, typer.Option(help=".csv (UTF-8 with BOM) or .xlsx")] = None,
    district: Annotated[str | None, typer.Option(help="one district's only")] = None,
    pollutant: Annotated[str | None, typer.Option(help="journal: one pollutant's only")] = None,
    base: ApiOption = None,
    token: TokenOption = None,
) -> None:
    """Export permits, registrations, EIA filings, registration forms, the
    quota journal or enterprises."""
    path, role, columns = SOURCES[what]
    target = writable(out or Path(f"{what.value}.csv"), "--out")
    params: dict[str, Any] = {}
    if district:
        params["district"] = district
    if pollutant and what is What.journal:
        params["pollutant"] = pollutant
    client = api(base, token)
    try:
        rows = []
        with console.status(f"reading {what.value}…"):
            for item in client.pages(path, shape=PAGE, role=role, params=params):
                rows.append(item)
    finally:
        client.close()
    try:
        write_table(target, rows, columns)
    except OSError as exc:
        raise write_failed(target, exc) from None
    console.print(f"wrote {len(rows)} {what.value} to {target}")
