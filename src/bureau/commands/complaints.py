"""`bureau complaint list|show|clusters|accept|reject|assign|reply|close|reopen`:
the 12369 complaints (环保投诉) of supervision-svc, without hand-written HTTP
requests. Every time shown is Beijing time; a statutory deadline is the
Beijing day it is met on (supervision-svc writes it as the first instant
after that day)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, get_args
from urllib.parse import quote

import typer
from pydantic import TypeAdapter
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from svc_common.districts import DISTRICTS

from bureau.client import Answer, Page
from bureau.commands.common import (
    ApiOption,
    JsonOption,
    KeyOption,
    TokenOption,
    api,
    one_of,
    print_table,
    request_key,
    said,
    show_answer,
)
from bureau.commands.exporting import BEIJING_HEADER, beijing_time

app = typer.Typer(
    help="12369 complaints (环保投诉): list, show, clusters, and each step of their handling "
    "(accept, reject, assign, reply, close, reopen).",
    no_args_is_help=True,
)
#: The table or the `--json` a script reads; what went wrong goes to stderr.
out = Console()


def labels() -> dict[str, str]:
    """A complaint's states and steps and their Chinese names, supervision-svc's own."""
    from supervision_svc.complaints.rules import LABELS_ZH  # its package: only here (start-up)

    return LABELS_ZH


def _codes(name: str) -> tuple[str, ...]:
    """The codes of one of supervision-svc's complaint fields (`Status`, `Category`…)."""
    from supervision_svc.complaints import schemas

    return tuple(get_args(getattr(schemas, name)))


def statuses() -> dict[str, str]:
    """The states `list --status` takes, with their Chinese names."""
    return {s: labels().get(s, "") for s in _codes("Status")}


def categories() -> dict[str, str]:
    """The categories supervision-svc files a complaint under (no Chinese names of its own)."""
    return dict.fromkeys(_codes("Category"), "")


def outcomes() -> dict[str, str]:
    """What closing a complaint found (办结结果)."""
    return dict.fromkeys(_codes("Outcome"), "")


class Contact(Answer):
    name: str | None = None
    phone: str | None = None
    wants_reply: bool


class ComplaintView(Answer):
    """A complaint as the commands read it (GET /supervision/complaints/{id},
    the list, each step's answer)."""

    id: str
    case_no: str
    channel: str
    received_at: str
    district: str
    address: str
    category: str
    description: str
    uscc: str | None = None
    status: str
    allowed_actions: list[str]
    first_responsible: str | None = None
    assigned_to: str | None = None
    accept_due: str
    accepted_at: str | None = None
    close_due: str | None = None
    overdue: bool
    rejected_reason: str | None = None
    reply: str | None = None
    replied_at: str | None = None
    closed_at: str | None = None
    outcome: str | None = None
    outcome_note: str | None = None
    reopen_count: int
    cluster_id: str
    repeat: bool
    complainant: Contact | None = None


class ClusterView(Answer):
    id: str
    district: str
    category: str
    uscc: str | None = None
    reports: int
    complainants: int
    open_reports: int
    first_received_at: str
    last_received_at: str
    attention: float
    summary: str


COMPLAINT = TypeAdapter(ComplaintView)
COMPLAINTS = TypeAdapter(Page[ComplaintView])
CLUSTERS = TypeAdapter(list[ClusterView])

IdArg = Annotated[str, typer.Argument(metavar="ID", help="the complaint's id")]


def _path(complaint_id: str, tail: str = "") -> str:
    return f"/supervision/complaints/{quote(complaint_id, safe='')}{tail}"


def _district(code: str) -> str:
    return f"{code} {DISTRICTS.get(code, '')}".strip()


def deadline(value: str | None) -> str:
    """A statutory deadline as the Beijing day it is met on."""
    from svc_common.calendar import deadline_day

    if not value:
        return ""
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    return deadline_day(at if at.tzinfo else at.replace(tzinfo=dt.UTC)).isoformat()


def complaint_table(c: ComplaintView) -> Table:
    """One complaint, a line a field, times in Beijing time, deadlines in Beijing dates."""
    t = Table(title=f"投诉 {c.case_no} (complaint {c.id})", show_header=False)
    t.add_column("field", no_wrap=True)
    t.add_column("value", overflow="fold")
    steps = "、".join(said(a, labels()) for a in c.allowed_actions) or "无 (none)"
    rows = [
        ("编号 case no.", c.case_no),
        ("id", c.id),
        ("状态 status", said(c.status, labels()) + ("，已超期 (overdue)" if c.overdue else "")),
        ("可执行 next steps", steps),
        ("区 district", _district(c.district)),
        ("地址 address", c.address),
        ("类别 category", c.category),
        ("渠道 channel", c.channel),
        ("内容 description", c.description),
        ("企业 uscc", c.uscc or ""),
        (f"接收 received ({BEIJING_HEADER})", beijing_time(c.received_at)),
        ("受理期限 accept by", deadline(c.accept_due)),
        (f"受理 accepted ({BEIJING_HEADER})", beijing_time(c.accepted_at) or ""),
        ("办结期限 close by", deadline(c.close_due)),
        ("首问负责 first responsible", c.first_responsible or ""),
        ("承办人 assigned to", c.assigned_to or ""),
    ]
    if c.rejected_reason:
        rows.append(("不予受理理由 rejected because", c.rejected_reason))
    if c.reply is not None:
        rows.append(("答复 reply", c.reply))
        rows.append((f"答复时间 replied ({BEIJING_HEADER})", beijing_time(c.replied_at) or ""))
    if c.closed_at:
        rows.append((f"办结 closed ({BEIJING_HEADER})", beijing_time(c.closed_at)))
        rows.append(("办结结果 outcome", c.outcome or ""))
        if c.outcome_note:
            rows.append(("办结说明 note", c.outcome_note))
    rows += [
        ("重新办理次数 reopened", str(c.reopen_count)),
        ("重复反映 repeat", f"是 (yes), cluster {c.cluster_id}" if c.repeat else "否 (no)"),
    ]
    if c.complainant is not None:
        who = c.complainant
        wants = "要求答复" if who.wants_reply else "不要求答复"
        rows.append(("投诉人 complainant", f"{who.name or '匿名'} {who.phone or ''} {wants}"))
    for name, value in rows:
        t.add_row(name, escape(value))
    return t


def _show(shown: ComplaintView, body: Any, as_json: bool, replayed: bool = False) -> None:
    show_answer(out, lambda: complaint_table(shown), body, as_json, replayed)


@app.command()
def show(
    complaint_id: IdArg,
    base: ApiOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """One complaint: its state and next steps, its statutory deadlines in
    Beijing dates, its handling so far (the complainant's contact only for
    the handling district's officers)."""
    client = api(base, token)
    try:
        answer = client.exchange("GET", _path(complaint_id), shape=COMPLAINT, ok=(200,))
    finally:
        client.close()
    _show(answer.value, answer.body, as_json)


def stands(c: ComplaintView) -> dict[str, Any]:
    """Where a complaint stands, as a step's key takes it in: a complaint
    may take the same step with the same words twice in its life (closed
    again with the same outcome after a reopen, assigned back to an officer
    it had), and a key of the request alone replayed the first step's
    answer then, the complaint left as it was. Run again after a lost
    answer, the step has moved the complaint on: the new key's request is
    refused in the service's words (已办结, say), never taken twice."""
    return {"status": c.status, "reopen_count": c.reopen_count, "assigned_to": c.assigned_to}


def _step(
    complaint_id: str,
    action: str,
    body: dict[str, Any],
    key: str | None,
    base: str | None,
    token: str | None,
    as_json: bool,
) -> None:
    """One step of a complaint's handling (POST …/{id}/{action}), sent with
    an Idempotency-Key made of the request and of where the complaint stands
    (`stands`) unless `--key` gives one."""
    client = api(base, token)
    try:
        if key is None:
            now = client.exchange("GET", _path(complaint_id), shape=COMPLAINT, ok=(200,))
            key = request_key(
                "complaint", f"{action}:{complaint_id}", {**body, "_stands": stands(now.value)}
            )
        answer = client.exchange(
            "POST",
            _path(complaint_id, f"/{action}"),
            shape=COMPLAINT,
            json=body,
            key=key,
            ok=(200,),
        )
    finally:
        client.close()
    _show(answer.value, answer.body, as_json, answer.replayed)


@app.command()
def accept(
    complaint_id: IdArg,
    key: KeyOption = None,
    base: ApiOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Accept a received complaint (受理): its closing clock starts."""
    _step(complaint_id, "accept", {}, key, base, token, as_json)


@app.command()
def reject(
    complaint_id: IdArg,
    reason: Annotated[str, typer.Option(help="why it is not accepted (不予受理理由)")],
    key: KeyOption = None,
    base: ApiOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Reject a received complaint (不予受理), with the reason."""
    _step(complaint_id, "reject", {"reason": reason}, key, base, token, as_json)


@app.command()
def assign(
    complaint_id: IdArg,
    officer: Annotated[str, typer.Option(help="the officer who handles it (承办人)")],
    key: KeyOption = None,
    base: ApiOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Assign an accepted complaint to an officer (交办), or reassign it."""
    _step(complaint_id, "assign", {"officer": officer}, key, base, token, as_json)


@app.command()
def reply(
    complaint_id: IdArg,
    text: Annotated[
        str, typer.Option("--text", help="the reply to the complainant (答复), ≤ 2000 characters")
    ],
    key: KeyOption = None,
    base: ApiOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Reply to the complainant (答复): an assigned complaint, or one replied to already."""
    _step(complaint_id, "reply", {"reply": text}, key, base, token, as_json)


@app.command()
def close(
    complaint_id: IdArg,
    outcome: Annotated[
        str,
        typer.Option(help="substantiated | not_substantiated | referred (属实/不属实/移交)"),
    ],
    note: Annotated[str | None, typer.Option(help="at most 2000 characters")] = None,
    key: KeyOption = None,
    base: ApiOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Close a replied complaint (办结) with its outcome, and a note if any."""
    one_of(outcome, outcomes(), "--outcome")
    body: dict[str, Any] = {"outcome": outcome}
    if note:
        body["note"] = note
    _step(complaint_id, "close", body, key, base, token, as_json)


@app.command()
def reopen(
    complaint_id: IdArg,
    reason: Annotated[str, typer.Option(help="why it is handled again (重新办理理由)")],
    key: KeyOption = None,
    base: ApiOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Reopen a closed complaint (重新办理), with the reason: a new closing clock."""
    _step(complaint_id, "reopen", {"reason": reason}, key, base, token, as_json)


def complaints_table(complaints: list[ComplaintView], title: str) -> Table:
    """One complaint a row; ids, case numbers, times and deadlines are
    never cut, the text folds."""
    t = Table(title=title)
    for col, whole in (
        ("编号 case no.", True),
        ("投诉 id", True),
        ("状态 status", True),
        ("区 district", True),
        ("类别 category", True),
        (f"接收 received ({BEIJING_HEADER})", True),
        ("期限 due", True),
        ("承办人 officer", False),
        ("内容 description", False),
    ):
        t.add_column(col, no_wrap=whole, overflow="fold")
    for c in complaints:
        running = "accept" if c.status == "received" else "close"
        due = deadline(c.accept_due if running == "accept" else c.close_due)
        if due:
            due = f"{'受理' if running == 'accept' else '办结'} {due}"
            due += " 已超期" if c.overdue else ""
        t.add_row(
            c.case_no,
            c.id,
            said(c.status, labels()) + (" 重复" if c.repeat else ""),
            escape(_district(c.district)),
            c.category,
            beijing_time(c.received_at),
            due,
            escape(c.assigned_to or ""),
            escape(" ".join(c.description.split())),
        )
    return t


DistrictsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--district",
        help="only this district's (its code); repeat for several: each district's, each once",
    ),
]
CategoryOpt = Annotated[
    str | None,
    typer.Option(help="air | odor | noise | water | waste | soil | radiation | other"),
]


@app.command("list")
def list_complaints(
    district: DistrictsOpt = None,
    status: Annotated[
        str | None,
        typer.Option(
            help="received | accepted | assigned | replied | closed | rejected "
            "(已接收/已受理/已交办/已答复/已办结/不予受理)"
        ),
    ] = None,
    category: CategoryOpt = None,
    overdue: Annotated[
        bool, typer.Option("--overdue", help="only open complaints past their statutory clock now")
    ] = False,
    cluster: Annotated[
        str | None, typer.Option(help="only the complaints of this cluster (重复反映)")
    ] = None,
    base: ApiOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """The complaints the token may see, oldest first as supervision-svc
    lists them, each with its state and the statutory deadline it runs on
    (受理 until accepted, then 办结) in Beijing dates. Every page is read.
    The service takes one district a request: several `--district` are one
    list each, merged in the order received."""
    one_of(status, statuses(), "--status")
    one_of(category, categories(), "--category")
    params: dict[str, Any] = {"status": status, "category": category, "cluster_id": cluster}
    if overdue:
        params["overdue"] = "true"
    asked = {k: v for k, v in params.items() if v is not None}
    client = api(base, token)
    found: dict[str, tuple[ComplaintView, Any]] = {}
    try:
        asked_districts: list[str | None] = list(dict.fromkeys(district or []))
        for one in asked_districts or [None]:
            for page in client.page_answers(
                "/supervision/complaints",
                shape=COMPLAINTS,
                params=asked | ({"district": one} if one else {}),
            ):
                for c, body in zip(page.value.items, page.body["items"], strict=True):
                    found.setdefault(c.id, (c, body))
    finally:
        client.close()
    merged = list(found.values())
    if len(asked_districts) > 1:  # one list is in the service's order already
        merged.sort(key=lambda c: (dt.datetime.fromisoformat(c[0].received_at), c[0].id))
    if as_json:
        items = [body for _, body in merged]
        print(json.dumps({"items": items, "next_cursor": None}, ensure_ascii=False, indent=2))
        return
    complaints = [c for c, _ in merged]
    print_table(out, complaints_table(complaints, f"12369 投诉 (complaints): {len(complaints)}"))
    if not complaints:
        out.print("没有符合条件的投诉 (no complaint)")


def clusters_table(clusters: list[ClusterView]) -> Table:
    """One cluster a row, the most attention first; ids and times never cut."""
    t = Table(title=f"重复反映的问题 (clusters): {len(clusters)}")
    for col, whole in (
        ("关注度 attention", True),
        ("cluster id", True),
        ("区 district", True),
        ("类别 category", True),
        ("企业 uscc", True),
        ("反映 reports (open)", True),
        ("投诉人 complainants", True),
        (f"首次 first ({BEIJING_HEADER})", True),
        (f"最近 latest ({BEIJING_HEADER})", True),
        ("摘要 summary", False),
    ):
        t.add_column(col, no_wrap=whole, overflow="fold")
    for k in clusters:
        t.add_row(
            f"{k.attention:g}",
            k.id,
            escape(_district(k.district)),
            k.category,
            k.uscc or "",
            f"{k.reports} ({k.open_reports})",
            str(k.complainants),
            beijing_time(k.first_received_at),
            beijing_time(k.last_received_at),
            escape(" ".join(k.summary.split())),
        )
    return t


@app.command()
def clusters(
    district: DistrictsOpt = None,
    category: CategoryOpt = None,
    include_closed: Annotated[
        bool, typer.Option("--include-closed", help="closed clusters too")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=500, help="at most this many")] = 50,
    base: ApiOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """The problems reported again and again (重复反映), ranked by attention
    (群众关注度: reports, distinct complainants, recency): open ones unless
    `--include-closed`. Several `--district` are one ranking each, merged."""
    one_of(category, categories(), "--category")
    params: dict[str, Any] = {"limit": limit}
    if category:
        params["category"] = category
    if include_closed:
        params["include_closed"] = "true"
    client = api(base, token)
    found: dict[str, tuple[ClusterView, Any]] = {}
    try:
        asked_districts: list[str | None] = list(dict.fromkeys(district or []))
        for one in asked_districts or [None]:
            answer = client.exchange(
                "GET",
                "/supervision/complaints/clusters",
                shape=CLUSTERS,
                params=params | ({"district": one} if one else {}),
                ok=(200,),
            )
            for k, body in zip(answer.value, answer.body, strict=True):
                found.setdefault(k.id, (k, body))
    finally:
        client.close()
    merged = list(found.values())
    if len(asked_districts) > 1:  # as the service ranks one list
        merged.sort(key=lambda k: (-k[0].attention, -k[0].reports, k[0].id))
        merged = merged[:limit]
    if as_json:
        print(json.dumps([body for _, body in merged], ensure_ascii=False, indent=2))
        return
    shown = [k for k, _ in merged]
    print_table(out, clusters_table(shown))
    if not shown:
        out.print("没有重复反映的问题 (no cluster)")
