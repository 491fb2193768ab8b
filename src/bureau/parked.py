"""`bureau sagas parked`: approved EIA filings permit-svc could not draft a
permit application for yet (a new enterprise whose industry code is not in
the classification table), each with its reason and how to re-drive it;
`bureau sagas redrive-parked` drafts them once the cause is fixed."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import typer
from pydantic import TypeAdapter
from rich.markup import escape

from bureau.client import Answer, Page
from bureau.commands.exporting import BEIJING_HEADER, beijing_time
from bureau.ops import (
    JsonOpt,
    ServiceUrlOpt,
    TokenOpt,
    UrlOpt,
    _base,
    _call,
    _gravest,
    console,
    errors,
    sagas,
    show_saga_list,
)


class ParkedFiling(Answer):
    filing_id: str
    district: str
    uscc: str
    industry_code: str
    received_at: str
    reason: str
    reason_text: str
    state: str
    permit_id: str | None = None


PARKED = TypeAdapter(Page[ParkedFiling])
ONE = TypeAdapter(ParkedFiling)


def how_to_redrive(item: dict[str, str]) -> str:
    return (
        "管理员在分类管理名录中补充该行业代码（POST /permit/industries:import）后自动起草；"
        f"或登记企业后 bureau sagas redrive-parked {item['filing_id']} "
        "(add the code to the classification table, and it is drafted; or register the "
        "enterprise, then re-drive)"
    )


@sagas.command("parked")
def sagas_parked(
    url: UrlOpt = "http://127.0.0.1:8000",
    service_url: ServiceUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Approved filings whose permit application permit-svc could not draft
    (parked), the longest waiting first, with the reason and how to re-drive.
    Exit code 1 while any is listed."""
    base = _base("permit", url, service_url)
    page = _call("GET", base, "/permit/parked-filings?state=waiting&limit=1000", token, PARKED)
    items = page["items"]
    for item in items:
        item["why"] = [item["reason_text"], how_to_redrive(item)]
    if page.get("next_cursor"):
        errors.print("[yellow]只列出了最早的 1000 件 (only the 1000 longest waiting)[/yellow]")
    columns = ("filing", "district", "uscc", "industry", f"since ({BEIJING_HEADER})", "why")
    show_saga_list(
        items,
        token,
        as_json,
        "approved filings parked: no permit application drafted",
        [(col, col != "why") for col in columns],
        lambda item: [
            item["filing_id"],
            item["district"],
            item["uscc"],
            item["industry_code"],
            beijing_time(item["received_at"]),
            escape("\n".join(item["why"])),
        ],
    )


@sagas.command("redrive-parked")
def sagas_redrive_parked(
    filing_ids: Annotated[list[str], typer.Argument(help="filing ids")],
    url: UrlOpt = "http://127.0.0.1:8000",
    service_url: ServiceUrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Draft parked filings' applications now (an administrator, after the
    cause is fixed). Each is tried: one refused (still unclassified, drafted
    already) is said with its reason and the next is tried; the exit code
    is then the gravest refusal's."""
    base = _base("permit", url, service_url)
    refused: set[int] = set()
    for filing_id in filing_ids:
        path = f"/permit/parked-filings/{quote(filing_id, safe='')}/redrive"
        try:
            out = _call("POST", base, path, token, ONE)
        except typer.Exit as exc:  # said by _call
            refused.add(exc.exit_code)
            continue
        console.print(f"[green]{filing_id}: {out['state']} {out.get('permit_id') or ''}[/green]")
    if refused:
        raise typer.Exit(_gravest(refused))
