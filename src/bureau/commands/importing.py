"""`bureau import KIND FILE`: load an administrator's table (CSV in UTF-8 or
GBK, or .xlsx) through the services' APIs, with a progress bar, a report of
the failing rows and a dry run that only checks the file."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import Field, TypeAdapter, ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from svc_common.districts import district_problem
from svc_common.uscc import uscc_problem

from bureau.client import (
    BULK_REPORT,
    UNREAD,
    Answer,
    Api,
    ApiFailed,
    BulkRow,
    RowError,
    Unreachable,
)

if TYPE_CHECKING:
    from svc_common.uploads import RawRow
from bureau.commands.common import (
    ApiOption,
    ReportForceOption,
    TokenOption,
    api,
    console,
    new_file,
    read_rows,
    rows_to_csv,
    rows_to_ndjson,
    writable,
    write_error_report,
    write_failed,
)


class Kind(StrEnum):
    enterprises = "enterprises"
    industries = "industries"
    project_types = "project-types"
    control_units = "control-units"
    parks = "parks"
    baselines = "baselines"


Failures = dict[int, list[tuple[str, str]]]


def _decimal(v: str) -> str | None:
    try:
        d = Decimal(v)
    except (InvalidOperation, ValueError):
        return "is not a number"
    if not d.is_finite() or d < 0:
        return "must be a number ≥ 0"
    if d.as_tuple().exponent < -3:  # type: ignore[operator]
        return "has more than 3 decimals (t/a is kept to the kilogram)"
    return None


def _list(v: str) -> list[str]:
    return [x.strip() for x in re.split(r"[;；,，\s]+", v) if x.strip()]


@dataclass
class Table:
    """How one kind of table is checked and sent."""

    required: tuple[str, ...]
    checks: dict[str, Callable[[str], str | None]] = field(default_factory=dict)
    #: Columns `bureau export` writes that the service derives and does not
    #: take: left out of what is sent, so an export can be edited and
    #: imported back. Any other column the service does not know is refused.
    derived: tuple[str, ...] = ()


TABLES: dict[Kind, Table] = {
    Kind.enterprises: Table(
        ("uscc", "name", "district", "industry_code"),
        {"uscc": uscc_problem, "district": district_problem},
        derived=("category",),
    ),
    Kind.industries: Table(("industry_code", "name", "category")),
    Kind.project_types: Table(("code", "name", "industry_code", "category", "rule")),
    Kind.control_units: Table(
        ("code", "name", "district", "kind", "rule"), {"district": district_problem}
    ),
    Kind.parks: Table(
        ("id", "name", "district", "covered_project_types", "vocs_subpool_t"),
        {"district": district_problem, "vocs_subpool_t": _decimal},
    ),
    Kind.baselines: Table(
        ("district", "amount_t"), {"district": district_problem, "amount_t": _decimal}
    ),
}


def check_rows(kind: Kind, rows: list[RawRow]) -> Failures:
    """What is wrong with each row before anything is sent."""
    table = TABLES[kind]
    failures: Failures = {}
    for r in rows:
        if r.data is None:
            failures[r.row] = [(r.field, r.error or "unreadable")]
            continue
        errs = [(c, "is missing") for c in table.required if not r.data.get(c)]
        for col, check in table.checks.items():
            value = r.data.get(col)
            if value and (problem := check(value)):
                errs.append((col, problem))
        if errs:
            failures[r.row] = errs
    return failures


def _row_errors(report_rows: list[BulkRow]) -> dict[int, list[tuple[str, str]]]:
    return {r.row: [(e.field, e.message) for e in r.errors] for r in report_rows if r.errors}


class _Refusal(Answer):
    """What a refusal (problem+json) says of each field, when it does."""

    errors: list[RowError] = Field(default_factory=list)


_REFUSAL = TypeAdapter(_Refusal)


def _problem_errors(exc: ApiFailed, row: int) -> list[tuple[str, str]]:
    body = exc.body if isinstance(exc.body, dict) else {}
    try:
        errs = [(e.field, e.message) for e in _REFUSAL.validate_python(body, strict=True).errors]
    except ValidationError:  # not a problem+json of the service's: said whole
        errs = []
    return errs or [("", str(body.get("detail") or exc))]


def baseline_keys(rows: list[RawRow]) -> dict[int, str]:
    """An Idempotency-Key for each baseline row, by file row number, made of
    what the row credits (district, pollutant, amount, effective time):
    importing the file again (after an interruption, or with its failing
    rows mended) is answered from the first import for every row that took
    effect, not credited twice, for as long as the service keeps answers
    (IDEMPOTENCY_RETENTION_HOURS, 72 h by default). Rows alike in one file
    are each credited: the nth of them has its own key. A row whose credit
    changed is another credit (a wrong amount imported is corrected by an
    adjustment, not by importing again); one changed only in its note is
    refused as a key reused for another request, not credited twice."""
    seen: dict[str, int] = {}
    keys: dict[int, str] = {}
    for r in rows:
        d = r.data or {}
        what = json.dumps(
            [
                d.get("district", ""),
                d.get("pollutant") or "VOCs",
                _tonnes(d.get("amount_t", "")),
                d.get("effective_at", ""),
            ],
            ensure_ascii=False,
        )
        seen[what] = nth = seen.get(what, 0) + 1
        digest = hashlib.sha256(f"{what}#{nth}".encode()).hexdigest()[:40]
        keys[r.row] = f"import:baseline:{digest}"
    return keys


def _tonnes(v: str) -> str:
    """`12`, `12.0` and `12.000` are one amount, written as every answer
    writes tonnes (checked before: ≤ 3 decimals)."""
    from svc_common.types import kg_text, tonnes_to_kg  # SQLAlchemy: not at start-up

    try:
        return kg_text(tonnes_to_kg(Decimal(v)))
    except (InvalidOperation, ValueError):
        return v


def upload_body(rows: list[dict[str, str]], *, json_lines: bool) -> tuple[bytes, str]:
    """The body (and its media type) that sends `rows` to a bulk import as
    the file gave them, whatever rows share the request: JSON lines, each
    row with its own columns only, where the service takes them (for an
    enterprise, a column its row left out, as a CSV line that ends before
    it, keeps the stored value; an empty cell is a value, as the service
    reads the file itself); else a CSV under every column any row has,
    for the tables whose reader takes a cell missing for an empty one
    (svc_common.uploads.table_rows). Never the columns of one row for all:
    under the first row's, a later row's `address` was dropped, or sent
    as "" where the row had left it out."""
    if json_lines:
        return rows_to_ndjson(rows), "application/x-ndjson"
    return rows_to_csv(rows), "text/csv; charset=utf-8"


def send(
    kind: Kind,
    client: Api,
    rows: list[RawRow],
    advance: Callable[[int], None],
    failures: Failures | None = None,
) -> Failures:
    """Send the rows; the failures by file row number (into `failures` as
    they come, so that an import that stops keeps those already answered)."""
    failures = {} if failures is None else failures
    good = [r for r in rows if r.data is not None]
    if kind is Kind.enterprises:
        derived = TABLES[kind].derived
        for start in range(0, len(good), 2000):
            chunk = good[start : start + 2000]
            sent = [{k: v for k, v in (r.data or {}).items() if k not in derived} for r in chunk]
            upload, media = upload_body(sent, json_lines=True)
            report = client.call(
                "POST",
                "/permit/enterprises:import",
                shape=BULK_REPORT,
                content=upload,
                content_type=media,
            )
            for i, errs in _row_errors(report.results).items():
                if not 0 < i <= len(chunk):
                    raise Unreachable(
                        "POST",
                        client.url("/permit/enterprises:import"),
                        f"answered row {i} of {len(chunk)} sent, not the service's JSON",
                    )
                failures[chunk[i - 1].row] = errs
            advance(len(chunk))
        return failures
    if kind in (Kind.industries, Kind.project_types):
        path = (
            "/permit/industries:import" if kind is Kind.industries else "/eia/project-types:import"
        )
        # CSV only: these tables are replaced whole, and read by table_rows.
        upload, media = upload_body([r.data or {} for r in good], json_lines=False)
        try:
            client.call("POST", path, shape=UNREAD, content=upload, content_type=media)
        except ApiFailed as exc:
            # The whole table is replaced or nothing is: every reason on row 1.
            failures[good[0].row if good else 1] = _problem_errors(exc, 1)
        advance(len(good))
        return failures
    keys = baseline_keys(good) if kind is Kind.baselines else {}
    for r in good:
        d = r.data or {}
        try:
            if kind is Kind.control_units:
                client.call(
                    "PUT",
                    f"/eia/control-units/{d['code']}",
                    shape=UNREAD,
                    json={
                        "name": d["name"],
                        "district": d["district"],
                        "kind": d["kind"],
                        "banned_industries": _list(d.get("banned_industries", "")),
                        "rule": d["rule"],
                    },
                )
            elif kind is Kind.parks:
                client.call(
                    "POST",
                    "/eia/parks",
                    shape=UNREAD,
                    json={
                        "id": d["id"],
                        "name": d["name"],
                        "district": d["district"],
                        "covered_project_types": _list(d["covered_project_types"]),
                        "vocs_subpool_t": d["vocs_subpool_t"],
                    },
                    key=f"import:park:{d['id']}",
                )
            else:
                # As in its key: `3` and `3.000` are one request.
                body: dict[str, Any] = {"amount_t": _tonnes(d["amount_t"])}
                if d.get("effective_at"):
                    body["effective_at"] = d["effective_at"]
                if d.get("note"):
                    body["note"] = d["note"]
                client.call(
                    "POST",
                    f"/quota/pools/{d['district']}/{d.get('pollutant') or 'VOCs'}/baseline",
                    shape=UNREAD,
                    json=body,
                    key=keys[r.row],
                )
        except ApiFailed as exc:
            if exc.status >= 500:  # the service cannot answer: stop, not every row
                raise
            failures[r.row] = _problem_errors(exc, r.row)
        advance(1)
    return failures


#: The reason of the rows an interrupted import did not get answered for.
UNANSWERED = (
    "未导入或未确认：导入中断时尚未得到应答，中断时正在发送的一行可能已生效 "
    "(not imported, or not confirmed: unanswered when the import stopped; "
    "the row being sent then may have been applied)"
)


def import_table(
    kind: Annotated[Kind, typer.Argument(help="which table")],
    file: Annotated[Path, typer.Argument(help="CSV (UTF-8 or GBK) or .xlsx with a header row")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="check the file; send nothing")
    ] = False,
    errors: Annotated[
        Path | None,
        typer.Option(
            help="where to write the failing rows and why (.csv or .xlsx); a file already "
            "there is refused unless --force. Default: FILE.errors.csv, the report of "
            "FILE's last import, replaced by the next"
        ),
    ] = None,
    force: ReportForceOption = False,
    base: ApiOption = None,
    token: TokenOption = None,
) -> None:
    """Import enterprises, industries, project types, control units, parks or
    quota baselines."""
    rows = read_rows(file)
    report_path = errors or file.with_name(f"{file.stem}.errors.csv")
    if report_path.resolve() == file.resolve():  # even with --force
        raise typer.BadParameter(
            f"{report_path} 是要导入的文件本身，报告会覆盖它 (is the file imported: "
            "the report would overwrite it)",
            param_hint="--errors",
        )
    # A file named by --errors may be one someone kept: refused as every
    # --out is. FILE.errors.csv is the report of FILE's last import, which
    # importing FILE again (its failing rows mended) replaces.
    if errors is not None:
        new_file(report_path, "--errors", force)
    else:
        writable(report_path, "--errors")
    failures = check_rows(kind, rows)
    sendable = [r for r in rows if r.row not in failures]
    console.print(
        f"{file}: {len(rows)} rows, {len(failures)} refused by the checks, {len(sendable)} to send"
    )
    if not dry_run and sendable:
        client = api(base, token)
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
        ) as progress:
            task = progress.add_task(f"import {kind.value}", total=len(sendable))
            answered = 0

            def advance(n: int) -> None:
                nonlocal answered
                answered += n
                progress.advance(task, n)

            try:
                send(kind, client, sendable, advance, failures)
            except (Unreachable, ApiFailed, KeyboardInterrupt) as exc:
                # Nothing half-said: what was answered, and every row that
                # was not, in the report, then the reason and its exit code.
                progress.stop()
                _interrupted(file, rows, failures, sendable, answered, report_path, exc)
                raise exc from None
            finally:
                client.close()
    if failures:
        try:
            write_error_report(report_path, rows, failures)
        except OSError as exc:
            raise write_failed(report_path, exc) from None
        console.print(f"[yellow]{len(failures)} rows failed[/yellow]; reasons in {report_path}")
    verb = "would import" if dry_run else "imported"
    console.print(f"{verb} {len(rows) - len(failures)} of {len(rows)} rows")
    if failures:
        raise typer.Exit(code=1)


def _interrupted(
    file: Path,
    rows: list[RawRow],
    failures: Failures,
    sendable: list[RawRow],
    answered: int,
    report_path: Path,
    exc: BaseException,
) -> None:
    imported = sum(1 for r in sendable[:answered] if r.row not in failures)
    unanswered = sendable[answered:]
    for r in unanswered:
        failures[r.row] = [("", UNANSWERED)]
    if unanswered and isinstance(exc, ApiFailed):  # answered, with why it was not
        failures[unanswered[0].row] = _problem_errors(exc, unanswered[0].row)
    try:
        write_error_report(report_path, rows, failures)
        where = f"reasons in {report_path}"
    except OSError as exc:
        where = f"无法写入 {report_path} (cannot write the report): {exc.strerror or exc}"
    first = f" (from row {unanswered[0].row})" if unanswered else ""
    console.print(
        f"[red]导入中断 (import interrupted)[/red]: {file}: {imported} rows imported, "
        f"{len(unanswered)} not imported or not confirmed{first}; {where}"
    )
