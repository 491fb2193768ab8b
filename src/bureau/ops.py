"""Operators' commands (运维): dead letters, the outbox, stuck sagas.

They talk to the services' APIs with a citywide administrator's token, the
same in the embedded default and in the distributed mode:

    bureau dlq list --service quota          # what could not be applied
    bureau dlq show 12 --service quota       # one message with its error
    bureau dlq redrive 12 --service quota    # apply it again (safe: the inbox dedupes)
    bureau outbox status                     # every service's unsent events
    bureau sagas stuck --older-than PT5M     # filings waiting for quota-svc, and where;
                                             # approved ones whose quota lapsed short
    bureau sagas parked                      # approved filings permit-svc could not draft
    bureau sagas redrive-parked EIA-…        # draft them, once the cause is fixed

`--url` (or `--api`, as the other commands call it) is the embedded
default's address or a gateway; `--service-url
quota=http://host:8002` points one service elsewhere (the distributed mode
of `make run-kafka`: permit 8001, quota 8002, eia 8003). The token comes from
`--token`, `BUREAU_TOKEN`, or is minted with the development secret.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, NoReturn

import httpx
import typer
from pydantic import TypeAdapter
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from svc_common.districts import DISTRICTS, districts_claim
from svc_common.readable import shown as readable_text
from svc_common.settings import DEV_JWT_SECRET
from svc_common.tokens import mint_token

from bureau.client import (
    Answer,
    ApiFailed,
    Page,
    Unreachable,
    check_token,
    expect,
    read_answer,
    shown,
)
from bureau.commands.common import print_table
from bureau.commands.exporting import BEIJING_HEADER, beijing_time
from bureau.services import SERVICES

console = Console()
#: What went wrong goes to stderr: stdout is the table or the `--json` a
#: script reads.
errors = Console(stderr=True)
dlq = typer.Typer(help="Dead letters: messages a service could not apply.", no_args_is_help=True)
outbox = typer.Typer(help="The transactional outbox of each service.", no_args_is_help=True)
sagas = typer.Typer(
    help="Sagas that do not converge: quota (filing ↔ reservation), permit drafting (parked)."
)

#: `--api` / BUREAU_API as well: the name every other command uses for the
#: same address (an operator typing it was told "No such option: --api").
UrlOpt = Annotated[
    str,
    typer.Option(
        "--url",
        "--api",
        envvar=["BUREAU_URL", "BUREAU_API"],
        help="the embedded default or a gateway",
    ),
]
ServiceUrlOpt = Annotated[
    list[str] | None,
    typer.Option("--service-url", help="service=URL, for a service served elsewhere"),
]
TokenOpt = Annotated[
    str | None, typer.Option("--token", envvar="BUREAU_TOKEN", callback=check_token)
]
ServiceOpt = Annotated[str, typer.Option("--service", "-s", help=" | ".join(SERVICES))]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the raw JSON")]
OlderThanOpt = Annotated[str, typer.Option(help="ISO 8601 duration")]


def older_than_of(text: str) -> dt.timedelta:
    """`--older-than` read here, not by a service's 422: a typo is a usage
    error (exit code 2), not "found" (1)."""
    from svc_common.clock import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--older-than") from None


class DeadLetter(Answer):
    """A dead letter as the commands read it (what they index, not `.get`)."""

    id: int
    consumer_group: str
    event_type: str | None
    key: str | None
    attempts: int
    occurrences: int = 1
    created_at: str
    last_seen_at: str | None = None
    error: str


class Resolved(Answer):
    """A dead letter re-driven or discarded."""

    status: str
    error: str = ""


class OutboxState(Answer):
    unsent: int
    oldest_unsent_age_seconds: float | None
    failing: list[dict[str, Any]]


class StuckFiling(Answer):
    id: str
    district: str
    status: str
    quota_attempt: int
    quota_status: str | None = None
    quota_asked_at: str | None = None
    quota_first_asked_at: str | None = None
    quota_asks: int = 0
    project_ref: str | None = None
    quota_note: str | None = None


class HeldLetter(Answer):
    """A dead letter matched to a stuck saga."""

    id: int
    key: str | None = None
    event_type: str | None = None
    error: str | None = None


class FailingRow(Answer):
    seq: int
    event_type: str
    attempts: int
    key: str | None = None
    last_error: str | None = None


class Failing(Answer):
    failing: list[FailingRow]


DEAD_LETTERS = TypeAdapter(Page[DeadLetter])
DEAD_LETTER = TypeAdapter(DeadLetter)
RESOLVED = TypeAdapter(Resolved)
OUTBOX = TypeAdapter(OutboxState)
FILINGS = TypeAdapter(Page[StuckFiling])
HELD_LETTERS = TypeAdapter(Page[HeldLetter])
FAILING = TypeAdapter(Failing)


def _districts_of(token: str | None) -> list[str]:
    """The districts a given token is bound to, read from its claims (not
    verified here: the service does that), to say what a list covers."""
    if not token:
        return []
    import jwt

    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return []
    return districts_claim(claims) or []


def _token(token: str | None) -> str:
    if token:
        return token
    secret = os.environ.get("JWT_SECRET", DEV_JWT_SECRET)
    return mint_token(secret, sub="operator.cli", role="admin")


def _base(service: str, url: str, overrides: list[str] | None) -> str:
    """Where `service` is served: a `--service-url` for it, else its
    `<SERVICE>_URL` (PERMIT_URL, QUOTA_URL…, as every other command and
    `make run-kafka` name it), else `--url`."""
    if service not in SERVICES:
        raise typer.BadParameter(f"service must be one of {', '.join(SERVICES)}")
    for item in overrides or []:
        name, _, where = item.partition("=")
        if name == service and where:
            return where.rstrip("/")
    return (os.environ.get(f"{service.upper()}_URL") or url).rstrip("/")


def _call(
    method: str,
    base: str,
    path: str,
    token: str | None,
    shape: TypeAdapter[Any],
    *,
    absent: tuple[int, ...] = (),
    **kw: Any,
) -> Any:
    """The service's JSON as it answered it (`--json` prints it as it is),
    once checked to be of `shape` (bureau.client.expect): an answer of
    another shape ends the command as every other command, exit code 3.
    None for a status of `absent` (a record the service has not)."""
    headers = {"Authorization": f"Bearer {_token(token)}", "Accept-Language": "zh-CN"}
    try:
        r = httpx.request(method, base + path, headers=headers, timeout=30, **kw)
    except httpx.HTTPError as exc:
        errors.print(f"[red]{escape(str(Unreachable(method, base + path, exc)))}[/red]")
        raise typer.Exit(Unreachable.exit_code) from exc
    if r.status_code in absent:
        return None
    try:
        # Said and coded as every command says a refusal (bureau.client).
        body = read_answer(method, base + path, path, r, ok=range(200, 400))
        expect(shape, body, method, base + path, r)
    except (ApiFailed, Unreachable) as exc:
        errors.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(exc.exit_code) from None
    return body


@dlq.command("list")
def dlq_list(
    service: ServiceOpt = "quota",
    status: Annotated[str, typer.Option(help="dead | redriven | discarded")] = "dead",
    url: UrlOpt = "http://127.0.0.1:8000",
    service_url: ServiceUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="how many, newest first")] = 100,
) -> None:
    """The service's dead letters, newest first; says so when there are more."""
    base = _base(service, url, service_url)
    page = _call(
        "GET",
        base,
        f"/{service}/admin/dead-letters?status={status}&limit={limit}",
        token,
        DEAD_LETTERS,
    )
    if as_json:
        print(json.dumps(page, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"{service}-svc dead letters ({status})")
    since, last = f"since ({BEIJING_HEADER})", f"last ({BEIJING_HEADER})"
    for col in ("id", "group", "event type", "key", "attempts", "copies", since, last, "error"):
        # Numbers and times whole; names and the error folded, never cut.
        whole = col in ("id", "attempts", "copies", since, last)
        table.add_column(col, no_wrap=whole, overflow="fold")
    for d in page["items"]:
        table.add_row(
            str(d["id"]),
            d["consumer_group"],
            # A type or key whose bytes were not UTF-8 read as （无法解码）
            # and an escaped preview, also from a service that sends U+FFFD.
            readable_text(d["event_type"]) or "?",
            readable_text(d["key"]) or "",
            str(d["attempts"]),
            str(d.get("occurrences", 1)),
            beijing_time(d["created_at"]),
            beijing_time(d.get("last_seen_at") or d["created_at"]),
            d["error"][:80],
        )
    print_table(console, table)
    if not page["items"]:
        console.print("[green]none[/green]")
    elif page.get("next_cursor"):
        console.print(
            f"[yellow]还有更多死信未列出 (more than {limit}; --limit up to 1000, "
            "or --json and its next_cursor)[/yellow]"
        )


@dlq.command("show")
def dlq_show(
    dead_letter_id: int,
    service: ServiceOpt = "quota",
    url: UrlOpt = "http://127.0.0.1:8000",
    service_url: ServiceUrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """One dead letter with its headers, value and error."""
    base = _base(service, url, service_url)
    print(
        json.dumps(
            _call(
                "GET", base, f"/{service}/admin/dead-letters/{dead_letter_id}", token, DEAD_LETTER
            ),
            ensure_ascii=False,
            indent=2,
        )
    )


@dlq.command("redrive")
def dlq_redrive(
    dead_letter_ids: list[int],
    service: ServiceOpt = "quota",
    url: UrlOpt = "http://127.0.0.1:8000",
    service_url: ServiceUrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Apply dead letters again (after the cause is fixed); safe to repeat."""
    base = _base(service, url, service_url)
    failed = 0
    for dl in dead_letter_ids:
        out = _call("POST", base, f"/{service}/admin/dead-letters/{dl}/redrive", token, RESOLVED)
        ok = out["status"] == "redriven"
        failed += not ok
        colour = "green" if ok else "red"
        console.print(
            f"[{colour}]{dl}: {out['status']}[/{colour}]"
            + ("" if ok else f" — {out['error'][:200]}")
        )
    raise typer.Exit(1 if failed else 0)


@dlq.command("discard")
def dlq_discard(
    dead_letter_id: int,
    reason: Annotated[str, typer.Option(help="why it is given up (kept with it)")],
    service: ServiceOpt = "quota",
    url: UrlOpt = "http://127.0.0.1:8000",
    service_url: ServiceUrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Give up on a dead letter for good, with the reason."""
    base = _base(service, url, service_url)
    out = _call(
        "POST",
        base,
        f"/{service}/admin/dead-letters/{dead_letter_id}/discard",
        token,
        RESOLVED,
        json={"reason": reason},
    )
    console.print(f"{dead_letter_id}: {out['status']}")


@outbox.command("status")
def outbox_status(
    url: UrlOpt = "http://127.0.0.1:8000",
    service_url: ServiceUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Unsent events and the oldest one's age, per service. A service that
    cannot be reached (exit code 3, as for every command) or refuses (1) is named, never left out
    of the table as if all were well."""
    rows = {}
    failed: dict[str, str] = {}
    #: The exit codes of the services' failures: the gravest is the command's.
    codes: set[int] = set()
    for service in SERVICES:
        base = _base(service, url, service_url)
        try:
            r = httpx.get(
                f"{base}/{service}/admin/outbox",
                headers={"Authorization": f"Bearer {_token(token)}", "Accept-Language": "zh-CN"},
                timeout=10,
            )
        except httpx.HTTPError as exc:
            failed[service] = f"cannot reach {shown(base)}: {exc}"
            codes.add(Unreachable.exit_code)
            continue
        path = f"/{service}/admin/outbox"
        try:
            body = read_answer("GET", base + path, path, r, ok=(200,))
            if isinstance(body, str):
                raise Unreachable("GET", base + path, "answered text, not the service's JSON")
            expect(OUTBOX, body, "GET", base + path, r)
        except (ApiFailed, Unreachable) as exc:
            failed[service] = str(exc)
            codes.add(exc.exit_code)
            continue
        rows[service] = body
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        for service, why in failed.items():
            Console(stderr=True).print(f"[red]{service}: {why}[/red]")
        if failed:
            raise typer.Exit(_gravest(codes))
        return
    table = Table(title="outbox")
    for col in ("service", "unsent", "oldest (s)", "failing"):
        # "unsent" holds a service's failure too: folded, never cut.
        table.add_column(col, no_wrap=col in ("oldest (s)", "failing"), overflow="fold")
    for service, st in rows.items():
        age = st["oldest_unsent_age_seconds"]
        table.add_row(
            service,
            str(st["unsent"]),
            f"{age:.1f}" if age is not None else "-",
            str(len(st["failing"])),
        )
    for service, why in failed.items():
        table.add_row(service, f"[red]{escape(why)}[/red]", "", "")
    print_table(console, table)
    if failed:
        raise typer.Exit(_gravest(codes))


def _gravest(codes: set[int]) -> int:
    """The exit code of several failures: unreachable (3) before a token not
    accepted (2) before a refusal (1)."""
    return next(c for c in (Unreachable.exit_code, 2, 1) if c in codes)


#: Where a filing's quota request or its answer can wait, by the key its
#: events carry there: eia-svc's events are keyed by the filing's id,
#: quota-svc's by the project's ref (`eia:<filing id>`).
_SAGA_HOPS = (("quota", "filing"), ("eia", "project"), ("eia", "filing"), ("quota", "project"))


def _saga_keys(filing: dict[str, Any]) -> dict[str, str]:
    return {"filing": filing["id"], "project": filing.get("project_ref") or f"eia:{filing['id']}"}


_Rows = dict[str, list[dict[str, Any]]]


@dataclass
class SagaHold:
    """What quota-svc and eia-svc hold back, by service: dead letters
    waiting for an operator, outbox rows that keep failing, consumer
    partitions paused on a failing dependency, the services whose broker is
    out of reach; and the services that could not be asked, with why (the
    list must not look clean then)."""

    dead: _Rows = field(default_factory=dict)
    failing: _Rows = field(default_factory=dict)
    retrying: dict[str, dict[str, str]] = field(default_factory=dict)
    no_broker: set[str] = field(default_factory=set)
    unasked: dict[str, str] = field(default_factory=dict)


#: Pages of 1,000 dead letters read per service to match stuck filings.
_DEAD_LETTER_PAGES = 20


def _waiting_on(base_for: dict[str, str], token: str | None) -> SagaHold:
    hold = SagaHold()
    headers = {"Authorization": f"Bearer {_token(token)}", "Accept-Language": "zh-CN"}
    for service in ("quota", "eia"):
        base = base_for[service]
        try:
            # Every dead letter, not the newest page: one of a stuck filing
            # further back must not read as "nothing found".
            letters: list[dict[str, Any]] = []
            params: dict[str, Any] = {"status": "dead", "limit": 1000}
            for _ in range(_DEAD_LETTER_PAGES):
                r = httpx.get(
                    f"{base}/{service}/admin/dead-letters",
                    params=params,
                    headers=headers,
                    timeout=10,
                )
                if r.status_code != 200:
                    break
                page = expect(HELD_LETTERS, r.json(), "GET", str(r.url), r)
                letters.extend(d.model_dump() for d in page.items)
                if not page.next_cursor or page.next_cursor == params.get("cursor"):
                    break
                params["cursor"] = page.next_cursor
            else:
                hold.unasked[service] = (
                    f"more than {len(letters)} dead letters: only the newest were read"
                )
            o = httpx.get(f"{base}/{service}/admin/outbox", headers=headers, timeout=10)
            if r.status_code == 200 and o.status_code == 200:
                failing = expect(FAILING, o.json(), "GET", str(o.url), o).failing
        except httpx.HTTPError as exc:
            hold.unasked[service] = f"cannot reach {base}: {exc}"
            continue
        except Unreachable as exc:
            hold.unasked[service] = str(exc)
            continue
        except ValueError:
            hold.unasked[service] = f"{base} answered {r.status_code}, not the service's JSON"
            continue
        if r.status_code == 200 and o.status_code == 200:
            hold.dead[service] = letters
            hold.failing[service] = [row.model_dump() for row in failing]
        else:
            bad = r if r.status_code != 200 else o
            try:
                problem = bad.json()
                hold.unasked[service] = (
                    f"{bad.status_code} {problem.get('title')}: {problem.get('detail')}"
                )
            except ValueError:
                hold.unasked[service] = f"{bad.status_code}: {bad.text[:200]}"
        try:  # /ready answers, 200 or 503, with the partitions paused
            ready = httpx.get(f"{base}/{service}/ready", timeout=10).json()
            hold.retrying[service] = dict(ready.get("retrying") or {})
            if ready.get("transport") is False:
                hold.no_broker.add(service)
        except (httpx.HTTPError, ValueError, AttributeError):
            pass
    return hold


def why_stuck(filing: dict[str, Any], hold: SagaHold) -> list[str]:
    """Why a filing still waits for quota-svc, as an operator acts on it:
    a dead letter of its saga (re-drive or discard it), an event of its
    saga its service cannot publish, a consumer or broker that holds every
    saga, or else nothing found (its request or answer is on its way:
    eia-svc asks again by itself)."""
    keys = _saga_keys(filing)
    why: list[str] = []
    for service, key in _SAGA_HOPS:
        for d in hold.dead.get(service, []):
            if d.get("key") == keys[key]:
                why.append(
                    f"{service}-svc 死信 #{d['id']} ({d.get('event_type') or '?'}): "
                    f"{(d.get('error') or '')[:200]} — bureau dlq show {d['id']} "
                    f"--service {service}"
                )
        for row in hold.failing.get(service, []):
            if row.get("key") == keys[key]:
                why.append(
                    f"{service}-svc 发件箱未能发出 #{row['seq']} ({row['event_type']}, "
                    f"{row['attempts']} 次): {(row.get('last_error') or '')[:200]}"
                )
    for service, paused in hold.retrying.items():
        for partition, error in paused.items():
            why.append(f"{service}-svc 消费暂停重试 (paused, retrying) {partition}: {error[:200]}")
    for service in sorted(hold.no_broker):
        why.append(f"{service}-svc 未连上 Kafka (cannot reach the broker)")
    for service, reason in hold.unasked.items():
        why.append(f"{service}-svc 无法查询 (could not be asked): {reason[:200]}")
    if not why:
        why.append(
            "未发现死信或发送失败：请求或答复在途，eia-svc 会自动重新请求 "
            "(no dead letter, no failing event: on its way; eia-svc asks again by itself)"
        )
    return why


def filing_state(status: str) -> str:
    """An EIA filing's review state as eia-svc's own messages say it, its
    Chinese name and its code: "不予批准（rejected）" (the code alone where
    it has none); every `bureau sagas` command says it so."""
    from eia_svc.filings.rules import LABELS_ZH  # eia-svc's package: only here
    from svc_common.errors import named_zh

    return named_zh(status, LABELS_ZH)


def quota_state(status: str) -> str:
    """An EIA filing's quota state, as `filing_state`: "总量确认中（pending）"."""
    from eia_svc.quota_saga.rules import LABELS_ZH
    from svc_common.errors import named_zh

    return named_zh(status, LABELS_ZH)


def why_lapsed_short(filing: dict[str, Any]) -> list[str]:
    """Why an approved filing's quota is not allocated (its hold lapsed and
    the district was short), and how it is re-driven: it waits for quota,
    not for a service, so nothing is found by asking the services."""
    # eia-svc says it in its own words (`quota_note`), with the shortfall;
    # every eia-svc that answers lapsed_short sends one.
    return [
        filing.get("quota_note") or "lapsed_short",
        "重新推动：收回指标入库后由该区审批人员重新申请总量（工作台“重新申请总量”，或 "
        f"POST /eia/filings/{filing['id']}/quota-retry）(re-drive: once quota is reclaimed, "
        "the district's officer retries quota-retry; quota-svc holds and allocates in one step)",
    ]


@sagas.command("stuck")
def sagas_stuck(
    older_than: OlderThanOpt = "PT5M",
    url: UrlOpt = "http://127.0.0.1:8000",
    service_url: ServiceUrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Filings whose quota request has waited longer than `--older-than`,
    each with where it waits: a dead letter of its saga in quota-svc or
    eia-svc, an event of it that cannot be published, or nothing found.
    They are asked again automatically; `quota-retry` asks with a new attempt.
    Then approved filings whose quota lapsed short (hold expired before the
    allocation, district short), whatever their age, with the shortfall and
    how to re-drive them (quota-retry once quota is reclaimed)."""
    older_than_of(older_than)
    base = _base("eia", url, service_url)
    page = _call(
        "GET",
        base,
        f"/eia/filings?quota_status=pending&older_than={older_than}&limit=1000",
        token,
        FILINGS,
    )
    items = page["items"]
    short = _call("GET", base, "/eia/filings?quota_status=lapsed_short&limit=1000", token, FILINGS)
    seen = {f["id"] for f in items}
    items += [f for f in short["items"] if f["id"] not in seen]
    waiting = [f for f in items if f.get("quota_status") != "lapsed_short"]
    if waiting:
        bases = {s: _base(s, url, service_url) for s in ("quota", "eia")}
        hold = _waiting_on(bases, token)
        for f in waiting:
            f["why"] = why_stuck(f, hold)
    for f in items:
        if f.get("quota_status") == "lapsed_short":
            f["why"] = why_lapsed_short(f)
    whole = ("district", "attempt", f"waiting since ({BEIJING_HEADER})", "asked again")
    columns = ("filing", "district", "status", "quota", "attempt", *whole[2:], "why")
    show_saga_list(
        items,
        token,
        as_json,
        f"quota sagas stuck: unanswered for {older_than}, or approved with quota lapsed short",
        [(col, col in whole) for col in columns],
        lambda f: [
            f["id"],
            f["district"],
            filing_state(f["status"]),
            quota_state(str(f.get("quota_status") or "pending")),
            str(f["quota_attempt"]),
            # Since its first ask: re-asks every two minutes do not restart it.
            beijing_time(f.get("quota_first_asked_at") or f.get("quota_asked_at") or ""),
            str(f.get("quota_asks", 0)),
            escape("\n".join(f["why"])),
        ],
    )


def show_saga_list(
    items: list[dict[str, Any]],
    token: str | None,
    as_json: bool,
    title: str,
    columns: list[tuple[str, bool]],
    row: Callable[[dict[str, Any]], list[str]],
) -> NoReturn:
    """Show a `bureau sagas` list and end the command: which districts were
    looked at when the token is bound to some ("none" is then not "none
    anywhere"), then the items as the services answered them (`--json`,
    each with its `why`) or a table of `columns` (name, kept on one line)
    filled by `row`, "none" when empty. Exit code 1 while any is listed, the
    same for both: a script tells "found" from "none"."""
    if scope := _districts_of(token):
        places = "、".join(f"{DISTRICTS.get(d, d)}（{d}）" for d in scope)
        errors.print(
            f"[yellow]只检查了令牌所辖的区：{escape(places)}；全市请用不限辖区的令牌 "
            f"(only the token's districts were looked at: {escape(', '.join(scope))})[/yellow]"
        )
    if as_json:
        print(json.dumps(items, ensure_ascii=False, indent=2))
        raise typer.Exit(1 if items else 0)
    table = Table(title=title)
    for col, whole in columns:
        table.add_column(col, no_wrap=whole, overflow="fold")
    for item in items:
        table.add_row(*row(item))
    print_table(console, table)
    if not items:
        console.print("[green]none[/green]")
    raise typer.Exit(1 if items else 0)


def register(app: typer.Typer) -> None:
    # Their commands join `sagas` when imported; they read this module.
    from bureau import orphans, parked  # noqa: F401

    app.add_typer(dlq, name="dlq")
    app.add_typer(outbox, name="outbox")
    app.add_typer(sagas, name="sagas")
