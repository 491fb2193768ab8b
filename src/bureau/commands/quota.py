"""`bureau quota show|check`: the quota of every district, and a what-if."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import typer
from pydantic import TypeAdapter
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bureau.client import Amount, Answer, ApiFailed
from bureau.commands.common import ApiOption, TokenOption, api, print_table

app = typer.Typer(help="Quota (总量指标): availability and what-if checks.", no_args_is_help=True)
out = Console()


class Pool(Answer):
    """A pool's availability as `quota show` reads it (GET /quota/availability)."""

    district: str
    district_name: str
    kind: str
    park_id: str | None = None
    credited_t: Amount
    reserved_t: Amount
    allocated_t: Amount
    available_t: Amount
    offset_ratio: Amount
    max_project_increment_t: Amount


class Verdict(Answer):
    """The what-if's answer as `quota check` reads it (POST /quota/checks)."""

    fits: bool
    offset_ratio: Amount
    required_t: Amount
    available_t: Amount
    shortfall_t: Amount


POOLS = TypeAdapter(list[Pool])
VERDICT = TypeAdapter(Verdict)


@app.command()
def show(
    pollutant: Annotated[str, typer.Option(help="VOCs, NOx, COD, NH3-N…")] = "VOCs",
    district: Annotated[str | None, typer.Option(help="one district only")] = None,
    base: ApiOption = None,
    token: TokenOption = None,
) -> None:
    """Every pool of the pollutant, ranked by the largest project that fits."""
    client = api(base, token)
    try:
        params = {"pollutant": pollutant} | ({"district": district} if district else {})
        pools = client.call(
            "GET", "/quota/availability", shape=POOLS, role="investment", params=params
        )
    finally:
        client.close()
    pools.sort(key=lambda p: (p.kind != "district", -Decimal(p.max_project_increment_t)))
    print_table(out, pools_table(pollutant, pools))


def pools_table(pollutant: str, pools: list[Pool]) -> Table:
    """The pools as a table: names fold, amounts are never cut or wrapped."""
    t = Table(title=f"{pollutant} quota (t/a)")
    for col in ("district", "pool"):
        t.add_column(col, overflow="fold")
    for col in ("credited", "reserved", "allocated", "available", "ratio", "largest\nproject"):
        t.add_column(col, justify="right", no_wrap=True)
    for p in pools:
        kind = p.kind + (f":{p.park_id}" if p.park_id else "")
        t.add_row(
            escape(f"{p.district} {p.district_name}"),
            escape(kind),
            p.credited_t,
            p.reserved_t,
            p.allocated_t,
            p.available_t,
            p.offset_ratio,
            p.max_project_increment_t,
        )
    return t


@app.command()
def check(
    district: Annotated[str, typer.Option(help="GB/T 2260 code, e.g. 120119")],
    increment: Annotated[str, typer.Option(help="the project's increment, t/a")],
    pollutant: Annotated[str, typer.Option()] = "VOCs",
    park: Annotated[str | None, typer.Option(help="a park's sub-pool")] = None,
    base: ApiOption = None,
    token: TokenOption = None,
) -> None:
    """Would a project of this increment fit now? Writes nothing."""
    client = api(base, token)
    body = {"district": district, "pollutant": pollutant, "increment_t": increment}
    if park:
        body["park_id"] = park
    try:
        r = client.call("POST", "/quota/checks", shape=VERDICT, role="investment", json=body)
    except ApiFailed as exc:
        # Exit code 1 means "does not fit": a refused question is a usage
        # error (2), a service that could not answer is 3.
        if exc.status < 500:
            raise typer.BadParameter(str(exc)) from exc
        Console(stderr=True).print(f"[red]{exc}[/red]")
        raise typer.Exit(code=3) from exc
    finally:
        client.close()
    # One line each, never wrapped: a script greps the verdict.
    out.print(verdict_said(district, pollutant, increment, r), soft_wrap=True)
    if not r.fits:
        raise typer.Exit(code=1)


def verdict_said(district: str, pollutant: str, increment: str, r: Verdict) -> str:
    """The what-if's answer as the CLI says everything: Chinese first, the
    English after it in brackets (as `import` and `register` do)."""
    what = escape(f"{district} {pollutant}")
    if r.fits:
        zh = "[green]可以容纳[/green]"
        en = "fits"
    else:
        zh = f"[red]无法容纳[/red]，缺 {r.shortfall_t} 吨"
        en = f"does not fit, short by {r.shortfall_t} t"
    return (
        f"{what} 新增 {escape(increment)} 吨/年 × 倍量替代比例 {r.offset_ratio} = "
        f"需 {r.required_t} 吨，可用 {r.available_t} 吨：{zh}\n"
        f"({what} {escape(increment)} t/a × {r.offset_ratio} = {r.required_t} t needed, "
        f"{r.available_t} t available: {en})"
    )
