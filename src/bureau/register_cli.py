"""`bureau register verify <file or URL>`: recompute the public register's
hash chain (quota-svc) from a CSV download, a JSON page file or the live
register's URL, and name the first broken entry."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from bureau.client import Unreachable, read_answer, shown

app = typer.Typer(help="The public quota register (公开登记簿).")
console = Console(stderr=True)


@app.callback()
def register() -> None:
    """The public quota register (公开登记簿): check a copy of it."""


#: What every entry of the register carries: a copy without them is not
#: one (a login page, another table), not a broken chain.
_COLUMNS = ("seq", "prev_hash", "hash")


def _not_a_register(source: str, why: str) -> typer.BadParameter:
    return typer.BadParameter(
        f"{source}: 不是公开登记簿的副本 (not a copy of the register: {why})",
        param_hint="SOURCE",
    )


def _from_text(text: str, source: str = "") -> list[dict[str, str]]:
    stripped = text.lstrip()
    if stripped.startswith("{") or stripped.startswith("["):
        try:
            body = json.loads(text)
        except ValueError as exc:
            raise _not_a_register(source, f"not JSON: {exc}") from None
        items = body.get("items") if isinstance(body, dict) else body
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise _not_a_register(source, "JSON without a list of entries")
        entries = [{k: str(v) for k, v in item.items()} for item in items]
        missing = {c for e in entries for c in _COLUMNS if c not in e}
    else:
        reader = csv.DictReader(io.StringIO(text))
        missing = set(_COLUMNS) - set(reader.fieldnames or ())
        entries = list(reader)
    if missing:
        raise _not_a_register(source, f"no {', '.join(sorted(missing))}")
    return entries


def _decode(data: bytes, source: str) -> str:
    """UTF-8 as downloaded (a BOM allowed), or GB18030 as Excel saves it."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise _not_a_register(source, "neither UTF-8 nor GB18030/GBK text")


def _from_url(url: str) -> list[dict[str, str]]:
    """Every entry of a live register: the CSV download in one request. A
    register that cannot be reached or refuses ends the command as every
    other call to a service does (exit code 3 or 1), not a traceback."""
    import httpx

    base = url.split("?", 1)[0]
    if not base.endswith("/register"):
        base = base.rstrip("/") + "/quota/public/register"
    try:
        with httpx.Client(timeout=60) as client:
            r = client.get(base, params={"format": "csv"})
    except httpx.HTTPError as exc:
        raise Unreachable("GET", base, exc) from None
    # As for every command: a refusal, or a page that is not the service's
    # (exit code 3), said without a password the URL holds.
    said = shown(base)
    answer = read_answer("GET", said, said, r, ok=(200,))
    return _from_text(answer if isinstance(answer, str) else r.text, said)


@app.command("verify")
def verify_command(
    source: Annotated[str, typer.Argument(help="a CSV or JSON file, or the register's URL")],
) -> None:
    """Recompute every hash; exit 1 naming the first entry that breaks the chain."""
    from quota_svc.register.rules import verify  # quota-svc's package: only here

    entries: list[dict[str, Any]]
    if source.startswith(("http://", "https://")):
        entries = _from_url(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise typer.BadParameter(f"no such file: {source}")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise typer.BadParameter(f"{source}: {exc.strerror}") from None
        entries = _from_text(_decode(data, source), source)
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
