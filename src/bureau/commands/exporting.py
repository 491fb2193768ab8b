"""`bureau export WHAT`: a list from the services' APIs as CSV or .xlsx."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from svc_common.clock import CHINA_STANDARD_TIME

from bureau.client import PAGE
from bureau.commands.common import (
    ApiOption,
    ForceOption,
    TokenOption,
    api,
    console,
    new_file,
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
            "due_on",
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


#: The services answer instants in UTC; officers read them in Beijing time
#: (北京时间: svc_common.clock.CHINA_STANDARD_TIME).
BEIJING_HEADER = "北京时间"
#: The order in which a permit's pollutants get their columns (permit-svc's).
POLLUTANT_ORDER = ("VOCs", "NOx", "SO2", "PM", "COD", "NH3-N", "TN", "TP")


def beijing_time(value: Any) -> Any:
    """An instant as officers read it: `2027-01-06 00:00` in Beijing, the
    zone said in the column's header. A value that is not an instant is
    written as it is."""
    if not isinstance(value, str) or not value:
        return value
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    if at.tzinfo is None:  # the services answer UTC
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m-%d %H:%M")


def _limits(value: Any) -> dict[str, Any]:
    """A permit's `pollutants` ([{pollutant, amount_t}]) by pollutant."""
    if not isinstance(value, list):
        return {}
    return {
        str(p["pollutant"]): p.get("amount_t")
        for p in value
        if isinstance(p, dict) and p.get("pollutant")
    }


def for_people(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows and their headers as an officer reads them in a
    spreadsheet: every instant (a column `…_at`) in Beijing time, its header
    saying so (`due_at (北京时间)`); a permit's pollutants one column each
    (`NOx_t`: tonnes a year, the exact decimal string of the answer; VOCs is
    `vocs_t`), not a Python list; any other list or object as JSON text."""
    pollutants: list[str] = []
    if "pollutants" in columns:
        present = {name for r in rows for name in _limits(r.get("pollutants"))}
        present.discard("VOCs")  # vocs_t
        pollutants = [p for p in POLLUTANT_ORDER if p in present]
        pollutants += sorted(present - set(POLLUTANT_ORDER))
    headers: list[str] = []
    for c in columns:
        if c == "pollutants":
            headers += [f"{p}_t" for p in pollutants]
        else:
            headers.append(f"{c} ({BEIJING_HEADER})" if c.endswith("_at") else c)
    out = []
    for r in rows:
        row: dict[str, Any] = {}
        for c in columns:
            v = r.get(c)
            if c == "pollutants":
                limits = _limits(v)
                row.update({f"{p}_t": limits.get(p) for p in pollutants})
            elif c.endswith("_at"):
                row[f"{c} ({BEIJING_HEADER})"] = beijing_time(v)
            elif isinstance(v, list | dict):
                row[c] = json.dumps(v, ensure_ascii=False)
            else:
                row[c] = v
        out.append(row)
    return out, headers


def export_list(
    what: Annotated[What, typer.Argument(help="which list")],
    out: Annotated[
        Path | None,
        typer.Option(
            help=".csv (UTF-8 with BOM) or .xlsx (default: WHAT.csv here); a file already "
            "there is kept unless --force"
        ),
    ] = None,
    district: Annotated[str | None, typer.Option(help="one district's only")] = None,
    pollutant: Annotated[str | None, typer.Option(help="journal: one pollutant's only")] = None,
    force: ForceOption = False,
    base: ApiOption = None,
    token: TokenOption = None,
) -> None:
    """Export permits, registrations, EIA filings, registration forms, the
    quota journal or enterprises."""
    path, role, columns = SOURCES[what]
    target = new_file(out or Path(f"{what.value}.csv"), "--out", force)
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
        write_table(target, *for_people(rows, columns))
    except OSError as exc:
        raise write_failed(target, exc) from None
    console.print(f"wrote {len(rows)} {what.value} to {target}")
