"""`bureau sagas orphans`: quota held for EIA filings that eia-svc does not
know, or no longer waits on (孤立的总量预留).

quota-svc holds a filing's quota when eia-svc's `eia.filing.accepted`
reaches it, and releases or allocates it on the filing's next event. A hold
whose filing eia-svc has never had (an event that was not eia-svc's, or a
filing lost with a restored database), or whose filing eia-svc has closed
while the release never arrived, freezes the district's quota until the hold
expires. Neither service sees it alone: this command reads both and lists
each such hold, with why and how to release it."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from pydantic import TypeAdapter
from rich.markup import escape
from svc_common import clock

from bureau.client import Answer, Page
from bureau.commands.exporting import BEIJING_HEADER, beijing_time
from bureau.ops import (
    JsonOpt,
    OlderThanOpt,
    ServiceUrlOpt,
    TokenOpt,
    UrlOpt,
    _base,
    _call,
    errors,
    filing_state,
    older_than_of,
    quota_state,
    sagas,
    show_saga_list,
)


class HeldReservation(Answer):
    id: str
    project_ref: str
    district: str
    status: str
    required_t: str
    created_at: str
    expires_at: str


class FilingState(Answer):
    status: str
    quota_status: str
    decided_at: str | None = None


HELD = TypeAdapter(Page[HeldReservation])
ONE_HELD = TypeAdapter(HeldReservation)
FILING = TypeAdapter(FilingState)
#: Pages of 1,000 held reservations read.
_PAGES = 20
#: The quota states of a filing that has a hold in quota-svc: secured (held),
#: or pending (its answer on its way). Any other while quota-svc holds is a
#: disagreement.
_HOLDING = ("secured", "pending")
#: Filing states in which nothing of the district's quota may stay held.
_CLOSED = ("rejected", "withdrawn")


def settling(filing: dict[str, Any] | None, cutoff: dt.datetime) -> bool:
    """Whether a filing decided after `cutoff` may still have its release on
    its way to quota-svc (a consumer behind): not yet a disagreement."""
    decided: str | None = (filing or {}).get("decided_at")
    return decided is not None and dt.datetime.fromisoformat(decided) > cutoff


def why_orphaned(filing: dict[str, Any] | None) -> str | None:
    """Why a hold for a filing is one no one waits on: its filing unknown to
    eia-svc (None), closed, or in a quota state that holds nothing; None
    when the filing still waits on it."""
    if filing is None:
        return (
            "eia-svc 无此环评文件：可能是非 eia-svc 发出的事件，或恢复数据库时丢失的文件 "
            "(eia-svc has no such filing: an event not eia-svc's, or a filing lost)"
        )
    if filing["status"] in _CLOSED:
        return (
            f"环评文件{filing_state(filing['status'])}，释放事件未到达 "
            f"(the filing is closed; its release never arrived)"
        )
    if filing["quota_status"] not in _HOLDING:
        return (
            f"eia-svc 记该文件总量状态为{quota_state(filing['quota_status'])}，而 quota-svc "
            f"仍预留 (eia-svc says quota {filing['quota_status']}, quota-svc still holds it)"
        )
    return None


def how_to_release(reservation_id: str) -> str:
    return (
        f"核实后释放：POST /quota/reservations/{reservation_id}/release "
        '{"reason": "…"} (release it once checked)'
    )


def _held(base: str, token: str | None) -> tuple[list[dict[str, Any]], bool]:
    """quota-svc's held reservations, oldest first; and whether more are left."""
    held: list[dict[str, Any]] = []
    cursor = ""
    for _ in range(_PAGES):
        query = "/quota/reservations?status=held&limit=1000" + (
            f"&cursor={cursor}" if cursor else ""
        )
        page = _call("GET", base, query, token, HELD)
        held.extend(page["items"])
        if not page.get("next_cursor"):
            return held, False
        cursor = page["next_cursor"]
    return held, True


def _filing(base: str, filing_id: str, token: str | None) -> dict[str, Any] | None:
    """eia-svc's filing, or None when it has none by that id: 404, or 422
    for an id no filing can have (a ref that was never eia-svc's)."""
    path = f"/eia/filings/{quote(filing_id, safe='')}"
    return _call("GET", base, path, token, FILING, absent=(404, 422))


@sagas.command("orphans")
def sagas_orphans(
    older_than: OlderThanOpt = "PT5M",
    url: UrlOpt = "http://127.0.0.1:8000",
    service_url: ServiceUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Quota held longer than `--older-than` for EIA filings eia-svc does
    not know, has closed (longer than that ago) or says hold nothing, the
    oldest first, with why and how to release each; each hold read again
    last, so one quota-svc resolved meanwhile is not listed. Exit code 1
    while any is listed."""
    # The events' schemas load at the first use, not with the command line.
    from svc_common.events.schemas.eia import FILING_REF_PREFIX

    cutoff = clock.now() - older_than_of(older_than)
    quota, eia = _base("quota", url, service_url), _base("eia", url, service_url)
    held, more = _held(quota, token)
    items: list[dict[str, Any]] = []
    for r in held:
        if not r["project_ref"].startswith(FILING_REF_PREFIX):
            continue  # a hold investment staff made by hand: no filing to agree with
        if dt.datetime.fromisoformat(r["created_at"]) > cutoff:
            continue  # its filing's answer may be on its way
        filing_id = r["project_ref"][len(FILING_REF_PREFIX) :]
        filing = _filing(eia, filing_id, token)
        why = why_orphaned(filing)
        if why is None or settling(filing, cutoff):
            continue
        now = _call("GET", quota, f"/quota/reservations/{r['id']}", token, ONE_HELD, absent=(404,))
        if now is None or now["status"] != "held":
            continue  # resolved since the list was read
        items.append({**r, "filing_id": filing_id, "why": [why, how_to_release(r["id"])]})
    if more:
        errors.print(
            f"[yellow]只检查了最早的 {len(held)} 项预留 "
            f"(only the {len(held)} oldest holds)[/yellow]"
        )
    columns = ("reservation", "filing", "district", "t", f"since ({BEIJING_HEADER})", "why")
    show_saga_list(
        items,
        token,
        as_json,
        "quota held for EIA filings no one waits on",
        [(col, col != "why") for col in columns],
        lambda item: [
            item["id"],
            item["filing_id"],
            item["district"],
            item["required_t"],
            beijing_time(item["created_at"]),
            escape("\n".join(item["why"])),
        ],
    )
