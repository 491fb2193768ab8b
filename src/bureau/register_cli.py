"""`bureau register verify <file or URL>`: recompute the public register's
hash chain (quota-svc) from a CSV download, a JSON page file or the live
register's URL, and name the first broken entry."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from quota_svc.register.rules import verify
from rich.console import Console

app = typer.Typer(help="The public quota register (公开登记簿).")
console = Console(stderr=True)


@app.callback()
def register() -> None:
    """The public quota register (公开登记簿): check a copy of it."""


def _from_text(text: str) -> list[dict[str, str]]:
    stripped = text.lstrip()
    if stripped.startswith("{") or stripped.startswith("["):
        body = json.loads(text)
        items = body["items"] if isinstance(body, dict) else body
        return [{k: str(v) for k, v in item.items()} for item in items]
    return list(csv.DictReader(io.StringIO(text)))


def _from_url(url: str) -> Iterator[dict[str, str]]:
    """Every entry of a live register: the CSV download in one request."""
    import httpx

    base = url.split("?", 1)[0]
    if not base.endswith("/register"):
        base = base.rstrip("/") + "/quota/public/register"
    with httpx.Client(timeout=60) as client:
        r = client.get(base, params={"format": "csv"})
        r.raise_for_status()
        yield from csv.DictReader(io.StringIO(r.text))


@app.command("verify")
def verify_command(
    source: Annotated[str, typer.Argument(help="a CSV or JSON file, or the register's URL")],
) -> None:
    """Recompute every hash; exit 1 naming the first entry that breaks the chain."""
    entries: list[dict[str, Any]]
    if source.startswith(("http://", "https://")):
        entries = list(_from_url(source))
    else:
        path = Path(source)
        if not path.is_file():
            raise typer.BadParameter(f"no such file: {source}")
        entries = _from_text(path.read_text(encoding="utf-8"))
    checked, broken = verify(entries)
    if broken is not None:
        console.print(
            f"[bold red]broken[/bold red] at entry seq={broken.seq} "
            f"(position {broken.position}): {broken.reason}"
        )
        raise typer.Exit(1)
    head = entries[-1]["hash"] if entries else "-"
    console.print(f"[green]intact[/green]: {checked} entries, head {head}")
    print(head)
