"""What the administrator's commands share: the API client options, reading
a CSV/XLSX file into rows, writing rows and error reports."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from bureau.client import Api, check_token

if TYPE_CHECKING:  # svc_common.uploads imports FastAPI: only when a file is read
    from svc_common.uploads import RawRow

console = Console(stderr=True)

ApiOption = Annotated[
    str | None,
    typer.Option(
        "--api",
        envvar="BUREAU_API",
        help="base URL of the services (the embedded default or a gateway); "
        "PERMIT_URL, QUOTA_URL, EIA_URL, SUPERVISION_URL override it per service",
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="BUREAU_TOKEN",
        help="bearer token to call with; default: a development token signed with JWT_SECRET",
        callback=check_token,
    ),
]

#: Every command writing a file (`--out`) refuses one already there unless
#: told to replace it (`new_file`): a list someone kept is not lost by mistake.
ForceOption = Annotated[
    bool, typer.Option("--force", help="with --out: replace a file already there")
]
#: `bureau import`'s: the file its `--errors` names is such a file too.
ReportForceOption = Annotated[
    bool, typer.Option("--force", help="with --errors: replace a file already there")
]


#: Every command that prints a service's answer: `--json` prints it as it is.
JsonOption = Annotated[bool, typer.Option("--json", help="print the service's JSON as it is")]
#: Every command that writes (`bureau alert issue`, `bureau complaint close`…).
KeyOption = Annotated[
    str | None,
    typer.Option(
        "--key",
        help="Idempotency-Key; default: made of the request, so the same command run "
        "again within the service's 72 hours is answered as the first time",
    ),
]


def request_key(kind: str, what: str, body: Mapping[str, Any]) -> str:
    """The Idempotency-Key a write is sent with unless `--key` gives one:
    the same request, the same key. Run again (a timeout, a lost answer),
    it is answered as the first time, not refused as a second alert
    overlapping the first or a step the record has taken already."""
    text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return f"bureau:{kind}:{what}:{hashlib.sha256(text.encode()).hexdigest()[:40]}"


def say_replayed(replayed: bool) -> None:
    """Said (to stderr) when the service answered a write from an earlier
    request with the same Idempotency-Key: the answer shown is that one's."""
    if replayed:
        console.print(
            "[yellow]相同的请求此前已发送，以下为当时的应答；要再发一次同样的请求，请用 --key "
            "另取一个键 (the same request was sent before: its answer is shown; "
            "--key another key to send it again)[/yellow]"
        )


def said(code: str, labels: Mapping[str, str]) -> str:
    """A level, state or step as every command says it: "生效中（in_force）",
    the service's Chinese name and its code (`svc_common.errors.named_zh`)."""
    from svc_common.errors import named_zh

    return named_zh(code, labels)


def one_of(value: str | None, allowed: Mapping[str, str], hint: str) -> None:
    """A value the API takes from `allowed` (code → Chinese name), else a
    usage error naming the option before any request."""
    if value is not None and value not in allowed:
        listed = "、".join(said(k, allowed) for k in allowed)
        raise typer.BadParameter(
            f"须为 {listed} 之一 (must be one of {', '.join(allowed)})", param_hint=hint
        )


#: The fewest cells a folded column of a table is given at a terminal.
_FOLDED = 8


def show_answer(
    out: Console, table: Callable[[], Table], body: Any, as_json: bool, replayed: bool = False
) -> None:
    """A write's or a read's answer: the service's JSON as it is (`--json`),
    else `table()` drawn whole (`print_table`), after the note that it is an
    earlier request's answer when it is (`say_replayed`)."""
    say_replayed(replayed)
    if as_json:
        print(json.dumps(body, ensure_ascii=False, indent=2))
        return
    print_table(out, table())


def print_table(out: Console, table: Table) -> None:
    """`table` with nothing cut off (no "1770.0…"): written to a file or a
    pipe, each row on one line however long (not at Rich's 80 columns);
    at a terminal, its text columns folded to the terminal's width, and
    wider than the terminal (which wraps the lines) only when the columns
    that must not be cut (amounts, ids: `no_wrap`) do not fit in it."""
    wide = out.options.update_width(10_000)
    whole = Measurement.get(out, wide, table)
    width = whole.maximum
    if out.is_terminal:
        # Rich measures a text by its longest word; a column that folds
        # needs only a few cells of it.
        saved = 0
        for column in table.columns:
            if not column.no_wrap:
                cells = [column.header, *column.cells]
                longest = max(Measurement.get(out, wide, c).minimum for c in cells)
                saved += max(0, longest - _FOLDED)
        width = max(out.width, whole.minimum - saved)
    kept = out.width
    out.width = width
    try:
        out.print(table)
    finally:
        out.width = kept


def api(base: str | None, token: str | None) -> Api:
    return Api.from_env(base, token)


def read_rows(path: Path, max_rows: int = 200_000) -> list[RawRow]:
    """A CSV (UTF-8, UTF-8 with BOM, or GB18030/GBK) or .xlsx file as numbered
    rows, read by the same reader as the services' bulk uploads."""
    from svc_common.uploads import XLSX_TYPE, parse_upload

    if not path.is_file():
        raise typer.BadParameter(f"{path} is not a file")
    media = XLSX_TYPE if path.suffix.lower() in (".xlsx", ".xlsm") else "text/csv"
    try:
        return parse_upload(media, path.read_bytes(), max_rows=max_rows)
    except Exception as exc:  # a Problem: the file as a whole is unreadable
        raise typer.BadParameter(f"{path}: {getattr(exc, 'detail', exc)}") from exc


def writable(path: Path, hint: str) -> Path:
    """`path` if a file can be written there, checked before any work (an
    import's rows sent, an export's pages read) so that the work is not
    done for a report or list that then cannot be written."""
    if path.is_dir():
        raise typer.BadParameter(
            f"{path} 是文件夹 (is a folder): give a file name", param_hint=hint
        )
    folder = path.parent
    if not folder.is_dir():
        raise typer.BadParameter(f"{folder} 文件夹不存在 (no such folder)", param_hint=hint)
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise typer.BadParameter(f"{path} 无法写入 (not writable)", param_hint=hint)
    return path


def new_file(path: Path, hint: str, force: bool = False) -> Path:
    """`path` if a file can be written there (`writable`) and none is there
    already, unless `force`: checked before any request, so that a list
    someone kept is not replaced by mistake. Every `--out` of the CLI
    (`ForceOption`), `bureau import --errors` and each file `bureau schemas`
    writes go through it, exit code 2 when refused."""
    writable(path, hint)
    if path.exists() and not force:
        raise typer.BadParameter(
            f"{path} 已存在，未覆盖；覆盖请加 --force (already exists: not overwritten; "
            "--force to replace it)",
            param_hint=hint,
        )
    return path


def write_bytes(path: Path, data: bytes) -> None:
    """`data` as the whole of `path`, put in its place once written."""
    with _replaced(path) as part:
        part.write_bytes(data)


def folder(path: Path, hint: str) -> Path:
    """`path` if it is a folder or can be made one (a file there is not)."""
    if path.exists() and not path.is_dir():
        raise typer.BadParameter(f"{path} 不是文件夹 (is not a folder)", param_hint=hint)
    return path


def write_failed(path: Path, exc: OSError) -> typer.Exit:
    """A file that could not be written after all (a full disk): said, exit 1."""
    console.print(f"[red]无法写入 {path} (cannot write it): {exc.strerror or exc}[/red]")
    return typer.Exit(code=1)


def rows_to_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> bytes:
    """Rows as CSV, for a service to read (an import's upload) and for people
    to open in a spreadsheet (an export) alike: every value guarded as in
    every CSV the system writes (csv_cell), so a name someone filed does not
    run as a formula where it is opened, and the service's reader (or
    `bureau import` reading an export back) undoes the guard
    (csv_cell_read): a name `'=1` read from the file (where it was `''=1`)
    is sent as `''=1` and arrives as `'=1`, not as `=1`. Without `columns`,
    every column any row has, in the order they first appear (not the first
    row's alone, which dropped a later row's); a row without one of them
    has an empty cell there."""
    from svc_common.uploads import csv_cell, csv_dict_writer  # CRLF: a lone CR is quoted

    cols = list(columns or dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv_dict_writer(buf, cols, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({c: csv_cell(r.get(c)) for c in cols})
    return buf.getvalue().encode("utf-8")


def rows_to_ndjson(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """Rows as JSON lines, one a row, each with its own keys and no other:
    a column a row left out stays out of its line (an empty cell is "").
    No guard against formulas: a JSON reader takes each text as it is."""
    return "".join(json.dumps(dict(r), ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def write_table(path: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """CSV (UTF-8 with BOM, for Excel) or .xlsx by the file's suffix."""
    if path.suffix.lower() == ".xlsx":
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet(path.stem[:31])
        ws.append([_cell(c) for c in columns])
        for r in rows:
            ws.append([_cell(r.get(c)) for c in columns])
        with _replaced(path) as part:
            wb.save(part)
        return
    data = b"\xef\xbb\xbf" + rows_to_csv(rows, columns)
    with _replaced(path) as part:
        part.write_bytes(data)


@contextmanager
def _replaced(path: Path) -> Iterator[Path]:
    """A file beside `path` to write, put in its place once whole: an export
    or a report interrupted (Ctrl-C, a full disk) leaves the file as it was,
    or none, never half of one. Removed if the writing fails."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    part = Path(name)
    # As an open() would have made it: mkstemp's is for its owner alone.
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(part, 0o666 & ~mask)
    try:
        yield part
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def _cell(v: Any) -> Any:
    from svc_common.uploads import sheet_cell  # control characters as escapes

    return sheet_cell(v)


def write_error_report(
    path: Path, rows: Sequence[RawRow], failures: Mapping[int, Iterable[tuple[str, str]]]
) -> None:
    """The failing rows with their cells and reasons: .xlsx, or CSV by suffix."""
    from svc_common.uploads import error_report_xlsx

    if path.suffix.lower() == ".xlsx":
        data = error_report_xlsx(rows, failures)
        with _replaced(path) as part:
            part.write_bytes(data)
        return
    columns: list[str] = []
    for r in rows:
        if r.row in failures and r.data:
            columns += [k for k in r.data if k not in columns]
    out = []
    for r in rows:
        if r.row in failures:
            reasons = "; ".join(f"{f}: {m}" if f else m for f, m in failures[r.row])
            out.append({"row": r.row, **(r.data or {}), "errors": reasons or (r.error or "")})
    write_table(path, out, ["row", *columns, "errors"])
