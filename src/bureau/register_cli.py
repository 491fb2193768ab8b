"""`bureau register verify <file or URL>`: recompute the public register's
hash chain (quota-svc) from a CSV download, a JSON page file or the live
register's URL, and name the first broken entry."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from bureau.client import ApiFailed, Unreachable, read_answer, shown

if TYPE_CHECKING:
    from quota_svc.register.rules import Break, Extract

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


Entries = list[dict[str, str]]


@dataclass(frozen=True)
class _Copy:
    """A copy of the register as read: its entries, and the extract it is
    (None for the whole register, or a page of it from the start)."""

    extract: Extract | None
    entries: Entries
    #: A JSON page read after a cursor: an extract that does not say so
    #: (`page_extract`), from the entry after `extract.filters["after"]`.
    page: bool = False


def _from_text(text: str, source: str = "") -> _Copy:
    """A copy's entries, and what a filtered extract states in its first
    lines (its filter and head), or what a JSON page after a cursor is."""
    from quota_svc.register.rules import page_extract, split_extract  # quota-svc's: only here

    try:
        extract, text = split_extract(text)
    except ValueError as exc:
        raise _not_a_register(source, f"an extract, but {exc}") from None
    entries = _entries(text, source)
    if extract is None and text.lstrip().startswith(("{", "[")):
        page = page_extract(entries)
        if page is not None:
            return _Copy(page, entries, page=True)
    return _Copy(extract, entries)


def _entries(text: str, source: str) -> Entries:
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


#: What to check when the register's URL (given to the command, or to
#: --against) answers nothing, or something that is not the service.
_URL_HINT = "无法连接该登记簿网址，请确认网址正确、服务在运行 (check the register's URL)"


#: A broken chain (a register tampered with) is exit code 1; a register
#: that could not be read is 3, as a service that cannot be reached is for
#: every command: nothing answering at its URL, a page that is not the
#: service's, a refusal (a 404 at a wrong URL), a 5xx. A script can tell
#: "tampered" from "not verified".
BROKEN = 1
NOT_READ = Unreachable.exit_code


def _from_url(url: str) -> _Copy:
    """Every entry of a live register: the CSV download in one request. A
    register that cannot be read there ends the command with one line saying
    why and exit code 3 (`NOT_READ`), never 1, a broken chain's."""
    import httpx

    base = url.split("?", 1)[0]
    if not base.endswith("/register"):
        base = base.rstrip("/") + "/quota/public/register"
    try:
        with httpx.Client(timeout=60) as client:
            r = client.get(base, params={"format": "csv"})
    except httpx.HTTPError as exc:
        # The address is the one given for the register, not --api's.
        raise Unreachable("GET", base, exc, _URL_HINT) from None
    # As for every command: a refusal, or a page that is not the service's
    # (exit code 3), said without a password the URL holds.
    said = shown(base)
    try:
        answer = read_answer("GET", said, said, r, ok=(200,), hint=_URL_HINT)
    except ApiFailed as exc:
        if exc.status >= 500:  # exit code 3 already, saying to retry
            raise
        # A refusal (404 at a wrong URL, a proxy's 401) is not a broken
        # register, nor a token to mend (the register is public).
        raise Unreachable("GET", base, f"answered {exc.status}: {exc.detail}", _URL_HINT) from None
    return _from_text(answer if isinstance(answer, str) else r.text, said)


def _load(source: str) -> _Copy:
    if source.startswith(("http://", "https://")):
        return _from_url(source)
    path = Path(source)
    if not path.is_file():
        raise typer.BadParameter(f"no such file: {source}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise typer.BadParameter(f"{source}: {exc.strerror}") from None
    return _from_text(_decode(data, source), source)


def _broken(broken: Break, where: str = "") -> typer.Exit:
    console.print(
        f"[bold red]broken[/bold red]{where} at entry seq={broken.seq} "
        f"(position {broken.position}): {broken.reason}"
    )
    return typer.Exit(BROKEN)


def _alone(source: str, copy: _Copy) -> str:
    """Why `copy`, an extract, is not verified without --against."""
    if copy.page and copy.extract is not None:
        after, last = copy.extract.filters["after"], copy.extract.head_seq
        return (
            f"{source}: 这是公开登记簿第 {after} 条之后的一页（游标分页，第 {int(after) + 1} 至"
            f" {last} 条），不是完整登记簿，不能单独核验：请用 --against 给出完整登记簿"
            f" (a page of the register after entry seq={after}, fetched with a cursor:"
            f" entries {int(after) + 1} to {last}, not the full register; verify it"
            " --against the full register's CSV or URL)"
        )
    return (
        f"{source}: 筛选摘录不是完整登记簿，不能单独核验：请用 --against 给出完整登记簿"
        " (a filtered extract is not the full register: verify it --against the"
        " full register's CSV or URL)"
    )


def _older_than(against: str, full: Entries, head_seq: int) -> None:
    """A saved copy of the full register that ends before the extract's
    head is older than the extract, not proof it was tampered with: said,
    exit code 2, nothing verified. The live register (a URL) that ends
    before it is: no register the service kept ever reached that head."""
    if against.startswith(("http://", "https://")):
        return
    last = max((int(e.get("seq") or 0) for e in full), default=0)
    if last < head_seq:
        raise typer.BadParameter(
            f"{against}: 这份完整登记簿止于第 {last} 条，摘录截至第 {head_seq} 条：它比摘录旧，"
            "请用更新的完整登记簿或其网址核验"
            f" (this copy of the full register ends at seq={last}, before the extract's head"
            f" seq={head_seq}: it is older than the extract; verify against a newer copy or the"
            " register's URL)",
            param_hint="--against",
        )


@app.command("verify")
def verify_command(
    source: Annotated[str, typer.Argument(help="a CSV or JSON file, or the register's URL")],
    against: Annotated[
        str | None,
        typer.Option(
            "--against",
            help="the full register (a CSV or JSON file, or its URL) a filtered extract "
            "is checked against",
        ),
    ] = None,
) -> None:
    """Recompute every hash; exit 1 naming the first entry that breaks the chain.
    A filtered extract (its first lines say so) is no chain alone: with
    --against, the full register's chain is recomputed and the extract must be
    its entries of the filter up to the head the extract names. A JSON page
    fetched with a cursor (its first entry past seq 1) is such an extract:
    the full register's entries after the one before it, up to its last.

    Exit codes: 0 intact (the head's hash printed); 1 broken: the chain, or
    the extract against it, was tampered with; 2 a usage error (not a copy
    of the register, an extract without --against, a saved full register
    older than the extract); 3 the register could
    not be read at its URL (nothing answering, a 404 or other refusal, a
    page that is not the service's, 5xx): not verified, not found broken."""
    from quota_svc.register.rules import verify, verify_extract  # quota-svc's: only here

    copy = _load(source)
    extract, entries = copy.extract, copy.entries
    if extract is None and against is not None:
        raise typer.BadParameter(
            f"{source}: 不是筛选摘录，无需 --against"
            " (not a filtered extract: it is verified alone)",
            param_hint="--against",
        )
    if extract is not None:
        if against is None:
            raise typer.BadParameter(_alone(source, copy), param_hint="--against")
        whole = _load(against)
        full = whole.entries
        if whole.extract is not None:
            said = (
                "游标之后的一页 (a page after a cursor)"
                if whole.page
                else "也是筛选摘录 (an extract too)"
            )
            raise typer.BadParameter(
                f"{against}: {said}，不是完整登记簿 (not the full register)",
                param_hint="--against",
            )
        _, broken = verify(full)
        if broken is not None:
            raise _broken(broken, " (the full register)")
        _older_than(against, full, extract.head_seq)
        broken = verify_extract(extract, entries, full)
        if broken is not None:
            raise _broken(broken, " (the extract)")
        kept = ";".join(f"{k}={v}" for k, v in extract.filters.items() if v)
        console.print(
            f"[green]intact[/green]: {len(entries)} entries, the full register's entries of "
            f"{kept} up to seq={extract.head_seq}, head {extract.head_hash}"
        )
        print(extract.head_hash)
        return
    checked, broken = verify(entries)
    if broken is not None:
        raise _broken(broken)
    head = entries[-1]["hash"] if entries else "-"
    console.print(f"[green]intact[/green]: {checked} entries, head {head}")
    print(head)
