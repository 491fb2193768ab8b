"""`bureau alert issue|lift|list|show|measures`: heavy-pollution weather
alerts (重污染天气预警) of supervision-svc, without hand-written HTTP requests.

Times are typed as people say them, in Beijing time: `2026-12-08T00:00`
or `2026-12-08 08:30` (no offset: Beijing time), a date alone
(`2026-12-08`: that day's 00:00 in Beijing, for `--to` as well, so an
alert `--to 2026-12-10` ends as 10 December begins), or with an offset
(`…+08:00`, `…Z`). They are sent as the API wants them, with their offset
(`2026-12-08T00:00:00+08:00`), and every time shown is Beijing time."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer
from pydantic import TypeAdapter
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from svc_common.clock import CHINA_STANDARD_TIME
from svc_common.districts import DISTRICTS

from bureau.client import Amount, Answer, Page
from bureau.commands.common import (
    ApiOption,
    ForceOption,
    JsonOption,
    KeyOption,
    TokenOption,
    api,
    console,
    new_file,
    one_of,
    print_table,
    request_key,
    said,
    show_answer,
    write_bytes,
    write_failed,
)
from bureau.commands.exporting import BEIJING_HEADER, beijing_time

app = typer.Typer(
    help="Heavy-pollution weather alerts (重污染天气预警): issue, lift, list, show, measures.",
    no_args_is_help=True,
)
#: The table or the `--json` a script reads; what went wrong goes to stderr.
out = Console()


def levels() -> dict[str, str]:
    """An alert's levels and their Chinese names, supervision-svc's own."""
    from supervision_svc.grading.rules import LEVEL_ZH  # its package: only here (start-up)

    return LEVEL_ZH


def states() -> dict[str, str]:
    """An alert's states by the service's clock (GET /supervision/alerts?state=)
    and their Chinese names, supervision-svc's own."""
    from supervision_svc.alerts.rules import STATE_ZH

    return STATE_ZH


class AlertView(Answer):
    """An alert as the commands read it (GET /supervision/alerts/{id}, the
    list, issue, lift): with its state by the service's clock (None from a
    service that does not say it)."""

    id: str
    level: str
    districts: list[str]
    starts_at: str
    ends_at: str
    note: str | None = None
    issued_by: str
    issued_at: str
    replaces: list[str]
    lifted_at: str | None = None
    lifted_by: str | None = None
    lift_reason: str | None = None
    replaced_by: str | None = None
    state: str | None = None


class Measure(Answer):
    uscc: str
    name: str
    district: str
    grade: str | None = None
    benchmark: str | None = None
    tier: str
    guarantee: str | None = None
    plant_plan: bool
    measure: dict[str, Any]
    cut_percent: int
    expected_vocs_reduction_t: Amount
    expected_nox_reduction_t: Amount


class DistrictReduction(Answer):
    district: str
    enterprises: int
    expected_vocs_reduction_t: Amount
    expected_nox_reduction_t: Amount


class Measures(Answer):
    alert: AlertView
    items: list[Measure]
    districts: list[DistrictReduction]


ALERT = TypeAdapter(AlertView)
ALERTS = TypeAdapter(Page[AlertView])
MEASURES = TypeAdapter(Measures)
CSV_TEXT = TypeAdapter(str)


def beijing_instant(text: str, hint: str) -> str:
    """A time as typed (module docstring) as the API takes it: ISO 8601
    with its offset, in Beijing time. Anything else is a usage error naming
    the option, before any request."""
    try:
        at = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} 不是时间：请写北京时间，如 2026-12-08T00:00、2026-12-08 08:30 或 "
            "2026-12-08（当日 0 时）(not a time: Beijing time such as 2026-12-08T00:00, "
            "or a date for its 00:00)",
            param_hint=hint,
        ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=CHINA_STANDARD_TIME)
    return at.astimezone(CHINA_STANDARD_TIME).isoformat()


def _key(what: str, body: dict[str, Any]) -> str:
    """The same request, the same key (`request_key`): run again, it is not
    refused as a second alert overlapping the first or a lift of a lifted alert."""
    return request_key("alert", what, body)


def _path(alert_id: str, tail: str = "") -> str:
    return f"/supervision/alerts/{quote(alert_id, safe='')}{tail}"


def _districts(codes: list[str]) -> str:
    return "、".join(f"{c} {DISTRICTS.get(c, '')}".strip() for c in codes)


def alert_table(a: AlertView) -> Table:
    """One alert, a line a field, every time in Beijing time."""
    t = Table(title=f"预警 {a.id} (alert)", show_header=False)
    t.add_column("field", no_wrap=True)
    t.add_column("value", overflow="fold")
    rows = [
        ("级别 level", said(a.level, levels())),
        ("状态 state", said(a.state, states()) if a.state else ""),
        ("区 districts", _districts(a.districts)),
        (f"开始 from ({BEIJING_HEADER})", beijing_time(a.starts_at)),
        (f"结束 to ({BEIJING_HEADER})", beijing_time(a.ends_at)),
        ("说明 note", a.note or ""),
        ("签发 issued", f"{a.issued_by} {beijing_time(a.issued_at)}"),
    ]
    if a.replaces:
        rows.append(("替代 replaces", ", ".join(a.replaces)))
    if a.lifted_at:
        lifted = f"已解除 lifted {beijing_time(a.lifted_at)} ({a.lifted_by or ''})"
        rows.append(("解除 lifted", lifted))
        if a.lift_reason:
            rows.append(("解除原因 reason", a.lift_reason))
        if a.replaced_by:
            rows.append(("被替代 replaced by", a.replaced_by))
    else:
        rows.append(("解除 lifted", "未解除 (not lifted)"))
    for name, value in rows:
        t.add_row(name, escape(value))
    return t


def _show(shown: AlertView, body: Any, as_json: bool, replayed: bool = False) -> None:
    show_answer(out, lambda: alert_table(shown), body, as_json, replayed)


@app.command()
def issue(
    level: Annotated[str, typer.Option(help="yellow | orange | red (黄色/橙色/红色)")],
    district: Annotated[list[str], typer.Option(help="a district's code; repeat for more")],
    from_: Annotated[
        str, typer.Option("--from", help="start, Beijing time (a date alone: its 00:00)")
    ],
    to: Annotated[str, typer.Option(help="end, Beijing time (a date alone: its 00:00)")],
    note: Annotated[str | None, typer.Option(help="at most 1000 characters")] = None,
    replaces: Annotated[
        list[str] | None,
        typer.Option(help="an alert in force this one replaces (a level change); repeat"),
    ] = None,
    key: KeyOption = None,
    base: ApiOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Issue an alert for districts and a period. One district is under one
    alert at a time: to change the level, name the alert in force with
    `--replaces` (it is lifted at this one's start)."""
    one_of(level, levels(), "--level")
    body: dict[str, Any] = {
        "level": level,
        "districts": district,
        "from": beijing_instant(from_, "--from"),
        "to": beijing_instant(to, "--to"),
    }
    if note:
        body["note"] = note
    if replaces:
        body["replaces"] = replaces
    client = api(base, token)
    try:
        answer = client.exchange(
            "POST", "/supervision/alerts", shape=ALERT, json=body, key=key or _key("issue", body)
        )
    finally:
        client.close()
    _show(answer.value, answer.body, as_json, answer.replayed)


@app.command()
def lift(
    alert_id: Annotated[str, typer.Argument(metavar="ID", help="the alert's id")],
    at: Annotated[str | None, typer.Option(help="when it ends, Beijing time; default now")] = None,
    reason: Annotated[str | None, typer.Option(help="why (解除原因)")] = None,
    key: KeyOption = None,
    base: ApiOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Lift an alert early (解除预警): it ends at `--at`, by default now."""
    body: dict[str, Any] = {}
    if at:
        body["at"] = beijing_instant(at, "--at")
    if reason:
        body["reason"] = reason
    client = api(base, token)
    try:
        answer = client.exchange(
            "POST",
            _path(alert_id, "/lift"),
            shape=ALERT,
            json=body,
            key=key or _key(f"lift:{alert_id}", body),
            ok=(200,),
        )
    finally:
        client.close()
    _show(answer.value, answer.body, as_json, answer.replayed)


@app.command()
def show(
    alert_id: Annotated[str, typer.Argument(metavar="ID", help="the alert's id")],
    base: ApiOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """One alert, lifted or not, in Beijing time."""
    client = api(base, token)
    try:
        answer = client.exchange("GET", _path(alert_id), shape=ALERT, ok=(200,))
    finally:
        client.close()
    _show(answer.value, answer.body, as_json)


def alerts_table(alerts: list[AlertView], title: str) -> Table:
    """One alert a row, the latest start first; ids and times are never cut."""
    t = Table(title=title)
    for col, whole in (
        ("预警 id", True),
        ("级别 level", True),
        ("状态 state", True),
        ("区 districts", False),
        (f"开始 from ({BEIJING_HEADER})", True),
        (f"结束 to ({BEIJING_HEADER})", True),
        (f"解除 lifted ({BEIJING_HEADER})", True),
    ):
        t.add_column(col, no_wrap=whole, overflow="fold")
    for a in alerts:
        t.add_row(
            a.id,
            said(a.level, levels()),
            said(a.state, states()) if a.state else "",
            escape(_districts(a.districts)),
            beijing_time(a.starts_at),
            beijing_time(a.ends_at),
            beijing_time(a.lifted_at) if a.lifted_at else "",
        )
    return t


@app.command("list")
def list_alerts(
    district: Annotated[
        list[str] | None,
        typer.Option(
            help="only the alerts naming this district (its code); repeat for several: "
            "the alerts naming any of them, each once"
        ),
    ] = None,
    state: Annotated[
        str | None,
        typer.Option(help="in_force | upcoming | ended | lifted (生效中/未开始/已结束/已解除)"),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            help="only those in force at this time, Beijing time (a date alone: its 00:00)"
        ),
    ] = None,
    level: Annotated[str | None, typer.Option(help="yellow | orange | red")] = None,
    base: ApiOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """The alerts the token may see, the latest start first, each with its
    state by the service's clock: which alert is in force in a district
    (`--state in_force`), or was at a time (`--at`). Every page is read.
    The service takes one district a request: several `--district` are one
    list each, merged (the last given was taken alone before)."""
    one_of(state, states(), "--state")
    one_of(level, levels(), "--level")
    params = {"state": state, "level": level}
    if at:
        params["at"] = beijing_instant(at, "--at")
    asked = {k: v for k, v in params.items() if v is not None}
    client = api(base, token)
    found: dict[str, tuple[AlertView, Any]] = {}
    try:
        asked_districts: list[str | None] = list(dict.fromkeys(district or []))
        for one in asked_districts or [None]:
            for page in client.page_answers(
                "/supervision/alerts",
                shape=ALERTS,
                params=asked | ({"district": one} if one else {}),
            ):
                for alert, body in zip(page.value.items, page.body["items"], strict=True):
                    found.setdefault(alert.id, (alert, body))
    finally:
        client.close()
    # As the service orders one list: the latest start first, then by id.
    merged = sorted(
        found.values(),
        key=lambda a: (dt.datetime.fromisoformat(a[0].starts_at), a[0].id),
        reverse=True,
    )
    if as_json:
        items = [body for _, body in merged]
        print(json.dumps({"items": items, "next_cursor": None}, ensure_ascii=False, indent=2))
        return
    alerts = [alert for alert, _ in merged]
    print_table(out, alerts_table(alerts, f"重污染天气预警 (alerts): {len(alerts)}"))
    if not alerts:
        out.print("没有符合条件的预警 (no alert)")


def measures_table(m: Measures) -> Table:
    """Every affected enterprise with its measure; names fold, amounts and
    codes are never cut."""
    from supervision_svc.grading.rules import GRADE_ZH, Measure  # only here

    t = Table(title=f"预警 {m.alert.id} 应急减排措施 (measures, t)")
    for col, whole in (
        ("区", True),
        ("统一社会信用代码", True),
        ("企业名称", False),
        ("绩效分级", True),
        ("措施", False),
        ("减排%", True),
        ("VOCs", True),
        ("NOx", True),
    ):
        t.add_column(
            col,
            no_wrap=whole,
            overflow="fold",
            justify="right" if whole and col in ("减排%", "VOCs", "NOx") else "left",
        )
    for i in m.items:
        t.add_row(
            i.district,
            i.uscc,
            escape(i.name),
            escape(GRADE_ZH.get(i.grade, i.grade) if i.grade else "未评级"),
            escape(Measure.of(i.measure).describe_zh() + ("（一厂一策）" if i.plant_plan else "")),
            str(i.cut_percent),
            i.expected_vocs_reduction_t,
            i.expected_nox_reduction_t,
        )
    for d in m.districts:
        t.add_row(
            f"[bold]{d.district}[/bold]",
            "",
            f"[bold]{escape(DISTRICTS.get(d.district, ''))} 合计 {d.enterprises} 家[/bold]",
            "",
            "",
            "",
            f"[bold]{d.expected_vocs_reduction_t}[/bold]",
            f"[bold]{d.expected_nox_reduction_t}[/bold]",
        )
    return t


@app.command()
def measures(
    alert_id: Annotated[str, typer.Argument(metavar="ID", help="the alert's id")],
    district: Annotated[str | None, typer.Option(help="one district's only")] = None,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="save the service's CSV (UTF-8 with BOM) to this file"),
    ] = None,
    force: ForceOption = False,
    base: ApiOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """The enterprises the alert affects, each with its measure and expected
    VOCs and NOx reductions, with each district's totals; or, with `--out`,
    the service's CSV for district teams."""
    target = new_file(out_file, "--out", force) if out_file else None
    params = {"district": district} if district else None
    client = api(base, token)
    try:
        if target is not None:
            csv = client.exchange(
                "GET", _path(alert_id, "/measures.csv"), shape=CSV_TEXT, params=params, ok=(200,)
            )
        else:
            answer = client.exchange(
                "GET", _path(alert_id, "/measures"), shape=MEASURES, params=params, ok=(200,)
            )
    finally:
        client.close()
    if target is not None:
        try:
            write_bytes(target, csv.response.content)
        except OSError as exc:
            raise write_failed(target, exc) from None
        console.print(f"wrote the measures of alert {alert_id} to {target}")
        return
    if as_json:
        print(json.dumps(answer.body, ensure_ascii=False, indent=2))
        return
    print_table(out, measures_table(answer.value))
    if not answer.value.items:
        out.print("没有受影响的企业 (no enterprise affected)")
