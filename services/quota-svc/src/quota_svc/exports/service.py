"""Export of the ledger (pools, lots and their movements, journal, holdings,
debts, permits' reclaimable ceilings, reservations, swaps, trades, reclaims,
adjustments and the district policy: offset ratios, air quality, advance
limits) as a ZIP of CSV files or one XLSX workbook, and the import of such
an export into an empty ledger, which gives a live ledger: identical
balances and ceilings, and every hold still allocatable, releasable or
expirable, every debt still withdrawable."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator, Mapping
from typing import Any, cast

from openpyxl import Workbook
from openpyxl.utils import get_column_letter
from sqlalchemy import Table, delete, func, insert, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.db import hold_tables
from svc_common.i18n import msg
from svc_common.types import utcnow
from svc_common.uploads import (
    UNSAVED_FORMULA,
    XlsxBook,
    csv_cell,
    csv_cell_read,
    csv_problem,
    csv_writer,
    repeated_column,
    sheet_cell,
    sheet_cell_read,
    unsaved_formula_problem,
)

from quota_svc.adjustments.models import Adjustment
from quota_svc.airquality.models import AirQualityRatio, AirQualityStatus
from quota_svc.debts.models import AdvanceLimit, Debt
from quota_svc.exports.lineage import lineage_problem
from quota_svc.exports.refs import folded_ref_problem, unnamed_ref_problem, with_folded_refs
from quota_svc.exports.rules import (
    Rows,
    at_row,
    broken_rule,
    from_text,
    future_problem,
    holds_problem,
    ledger_problem,
    to_text,
    unique_keys,
    with_reclaim_reasons,
)
from quota_svc.ledger.models import JournalEntry, Pool
from quota_svc.lots.models import LOTS, MOVEMENTS
from quota_svc.policy.models import DistrictPolicy
from quota_svc.reclaims.models import PermitBacking, Reclaim
from quota_svc.reconciliation.service import ledger_checks
from quota_svc.reservations.models import Reservation
from quota_svc.swaps.models import Swap
from quota_svc.trading.models import Holding, Trade

#: Sheet name → table, in the order an import writes them (foreign keys first).
SHEETS: dict[str, Table] = {
    "pools": cast(Table, Pool.__table__),
    # The district policy: offset ratios and hold days, air quality and the
    # ratio each status calls for, advance limits — scheduled rows too.
    # Without them a restore answered availability with the defaults.
    "district_settings": cast(Table, DistrictPolicy.__table__),
    "air_quality": cast(Table, AirQualityStatus.__table__),
    "air_quality_ratios": cast(Table, AirQualityRatio.__table__),
    "advance_limits": cast(Table, AdvanceLimit.__table__),
    "lots": LOTS,
    "lot_movements": MOVEMENTS,
    "journal": cast(Table, JournalEntry.__table__),
    # What holds or will move quota: a pool's reserved tonnes are its held
    # reservations' and approved swaps'; without them a restore kept the
    # tonnes held with nothing left to allocate, release or expire them.
    "reservations": cast(Table, Reservation.__table__),
    "swaps": cast(Table, Swap.__table__),
    "trades": cast(Table, Trade.__table__),
    "holdings": cast(Table, Holding.__table__),
    "debts": cast(Table, Debt.__table__),
    "reclaims": cast(Table, Reclaim.__table__),
    "adjustments": cast(Table, Adjustment.__table__),
    # Without it a restored ledger forgot what each permit's quota backed,
    # and a plant closed after the restore freed all its permit announced.
    "permit_backing": cast(Table, PermitBacking.__table__),
}
#: Sheets added after exports were first made: a file without one imports
#: with that table empty, as such a file did before the sheet existed.
OPTIONAL_SHEETS = frozenset(
    {
        "permit_backing",
        "district_settings",
        "air_quality",
        "air_quality_ratios",
        "advance_limits",
        "reservations",
        "swaps",
        "trades",
        "reclaims",
        "adjustments",
    }
)
#: Settings every installation starts with (the migration's status → ratio
#: table): a file carrying the sheet replaces them; one without keeps them.
#: Each with the columns that say what a row sets (the others, who set it
#: and when: every installation's differ).
REPLACED_SHEETS: Mapping[str, tuple[str, ...]] = {
    "air_quality_ratios": ("status", "offset_ratio_hundredths"),
}
#: Tables with a generated integer key whose sequence follows an import.
_SEQUENCED = {
    "lots": "id",
    "lot_movements": "id",
    "journal_entries": "id",
    "district_settings": "id",
    "air_quality": "id",
    "advance_limits": "id",
}
#: An upload larger than this is refused (413).
MAX_IMPORT_BYTES = 200 * 1024 * 1024
#: A file whose ZIP (the CSV export's, or the workbook's) unpacks to more
#: than this is refused (413) before any of it is unpacked: every sheet is
#: read whole into memory, and a few KiB of a ZIP bomb unpack to GiBs.
MAX_IMPORT_UNZIPPED = 512 * 1024 * 1024


class ImportRefused(Exception):
    pass


class NothingToRestore(Exception):
    """A sound file that would change nothing the ledger answers from (an
    empty ledger's export, most likely exported where the restore was
    meant to go): refused, so no restore is reported or recorded."""


#: What each format's file is, as a refusal names it (English, Chinese).
_FORMAT_NAMES = {
    "csv": ("ZIP of CSV files", "CSV 文件压缩包（ZIP）"),
    "xlsx": ("XLSX workbook", "XLSX 工作簿"),
}


async def _refused_row(
    s: AsyncSession, name: str, numbered: list[tuple[int, dict[str, Any]]]
) -> str:
    """Why the database refused a table's rows, naming the first row it
    refuses and the rule (each row tried alone, in its own savepoint, as the
    refusal is being answered), as every other refusal of an import does."""
    table = SHEETS[name]
    for number, row in numbered:
        try:
            async with s.begin_nested():
                await s.execute(insert(table), [row])
        except (sa_exc.IntegrityError, sa_exc.DataError) as exc:
            rule = broken_rule(table, str(exc.orig))
            if rule is None:
                return msg(
                    f"{name}: row {number}: refused by the ledger's rules",
                    f"{name}：第 {number} 行：不符合台账规则",
                )
            return msg(
                f"{name}: row {number}: breaks the ledger's rule {rule}",
                f"{name}：第 {number} 行：不符合台账规则 {rule}",
            )
    return msg(
        f"{name}: rows the ledger's rules refuse (a duplicate key or an inconsistent amount)",
        f"{name}：有不符合台账规则的行（键重复或数额不一致）",
    )


def _not_a_zip(fmt: str) -> str:
    en, zh = _FORMAT_NAMES[fmt]
    return msg(
        f"the file is not a {en} (format={fmt}): upload the file GET /quota/export wrote",
        f"该文件不是{zh}（format={fmt}）：请上传 GET /quota/export 导出的文件",
    )


async def _rows(s: AsyncSession, table: Table) -> list[list[str]]:
    key = list(table.primary_key.columns)
    result = await s.execute(select(table).order_by(*key))
    return [[to_text(v) for v in row] for row in result]


async def export_rows(s: AsyncSession) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Every sheet's header and rows, as `s` sees them: give it one snapshot
    (`Database.snapshot()`), or the tables may disagree."""
    return {
        name: ([c.name for c in table.columns], await _rows(s, table))
        for name, table in SHEETS.items()
    }


def to_zip(data: dict[str, tuple[list[str], list[list[str]]]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, (header, rows) in data.items():
            out = io.StringIO()
            # CRLF lines: a note's CR or LF is inside quotes (csv_writer).
            w = csv_writer(out)
            w.writerow(header)
            # Safe to open in a spreadsheet, and read back exactly (_read_zip).
            w.writerows([csv_cell(v) for v in row] for row in rows)
            z.writestr(f"{name}.csv", out.getvalue())
    return buf.getvalue()


def to_xlsx(data: dict[str, tuple[list[str], list[list[str]]]]) -> bytes:
    wb = Workbook(write_only=True)
    for name, (header, rows) in data.items():
        ws = wb.create_sheet(name)
        ws.append([sheet_cell(h) for h in header])
        for row in rows:
            # A cell holds no control characters: written as escapes (the
            # CSV export keeps them as they are); a CR as `_x000D_`, which
            # _read_xlsx reads back as a CR.
            ws.append([sheet_cell(v) for v in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _read_zip(content: bytes) -> Iterator[tuple[str, list[str], list[list[str]]]]:
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        for name in SHEETS:
            if name in OPTIONAL_SHEETS and f"{name}.csv" not in z.namelist():
                continue
            try:
                # A spreadsheet saving "CSV UTF-8" writes a byte order mark
                # first, which read as part of the first column's name.
                raw = z.read(f"{name}.csv").decode("utf-8-sig")
            except KeyError as exc:
                raise ImportRefused(msg(f"{name}.csv is missing", f"缺少 {name}.csv")) from exc
            except UnicodeDecodeError as exc:
                # Saved in another encoding (a spreadsheet's "CSV" is GBK on
                # a Chinese PC): said plainly, not in the decoder's words.
                raise ImportRefused(
                    msg(
                        f"{name}.csv is not UTF-8 text: save it as CSV UTF-8, as it was exported",
                        f"{name}.csv 不是 UTF-8 编码的文本：请按导出时的格式另存为 CSV UTF-8",
                    )
                ) from exc
            reader = csv.reader(io.StringIO(raw))
            try:
                rows = list(reader)
            except csv.Error as exc:
                line = reader.line_num
                said = msg(f"{name}.csv, line {line}: ", f"{name}.csv 第 {line} 行：")
                raise ImportRefused(said + csv_problem(exc)) from exc
            if not rows:
                raise ImportRefused(msg(f"{name}.csv is empty", f"{name}.csv 为空"))
            yield name, rows[0], [[csv_cell_read(v) for v in row] for row in rows[1:]]


def _read_xlsx(content: bytes) -> Iterator[tuple[str, list[str], list[list[str]]]]:
    book = XlsxBook(content)
    try:
        for name in SHEETS:
            if name not in book.sheetnames:
                if name in OPTIONAL_SHEETS:
                    continue
                raise ImportRefused(msg(f"sheet {name} is missing", f"缺少工作表 {name}"))
            rows: list[list[str]] = []
            for number, row in enumerate(book.rows(name), 1):
                rows.append(_sheet_row(name, number, row, rows[0] if rows else []))
            if not rows:
                raise ImportRefused(msg(f"sheet {name} is empty", f"工作表 {name} 为空"))
            yield name, rows[0], rows[1:]
    finally:
        book.close()


def _sheet_row(name: str, number: int, row: tuple[Any, ...], header: list[str]) -> list[str]:
    """A sheet's row as text; a formula cell with no saved value is refused
    by its row and column (the header's name, or the column's letter)."""
    if UNSAVED_FORMULA in row:
        j = row.index(UNSAVED_FORMULA)
        column = header[j] if j < len(header) and header[j] else get_column_letter(j + 1)
        raise ImportRefused(at_row(name, number, column, unsaved_formula_problem()))
    return ["" if v is None else str(sheet_cell_read(v)) for v in row]


def _values(
    name: str, header: list[str], rows: list[list[str]]
) -> list[tuple[int, dict[str, Any]]]:
    """A sheet's rows read into column values, each with its row number in
    the file (the header is row 1; blank rows are skipped)."""
    table = SHEETS[name]
    unknown = [h for h in header if h not in table.c]
    if unknown:
        raise ImportRefused(msg(f"{name}: unknown columns {unknown}", f"{name}：未知列 {unknown}"))
    if (twice := repeated_column(header)) is not None:
        raise ImportRefused(
            msg(
                f"{name}: the column {twice} appears twice in the header row",
                f"{name}：列 {twice} 在表头中出现了两次",
            )
        )
    values: list[tuple[int, dict[str, Any]]] = []
    for number, row in enumerate(rows, start=2):
        if not any(row):
            continue
        if len(row) != len(header):
            raise ImportRefused(
                msg(
                    f"{name}: row {number} has {len(row)} cells, the header {len(header)}",
                    f"{name}：第 {number} 行有 {len(row)} 个单元格，表头有 {len(header)} 个",
                )
            )
        cells: dict[str, Any] = {}
        for h, v in zip(header, row, strict=True):
            try:
                cells[h] = from_text(table, h, v)
            except ValueError as exc:  # CellRefused: why, with what the cell holds
                raise ImportRefused(at_row(name, number, h, str(exc))) from exc
        values.append((number, cells))
    return values


async def _changes_nothing(s: AsyncSession, read: Mapping[str, Rows]) -> bool:
    """The file holds no row of any table, or only a replaced table's rows
    setting what the ledger's already do."""
    for name, numbered in read.items():
        if name not in REPLACED_SHEETS:
            if numbered:
                return False
            continue
        columns = [SHEETS[name].c[c] for c in REPLACED_SHEETS[name]]
        have = {tuple(row) for row in (await s.execute(select(*columns))).all()}
        if {tuple(row.get(c.name) for c in columns) for _, row in numbered} != have:
            return False
    return True


async def import_into_empty(s: AsyncSession, content: bytes, fmt: str) -> dict[str, int]:
    """Write an export into an empty ledger (ImportRefused otherwise, or if
    the file is not an export: unreadable, a row outside the ledger's domain
    or naming a pool or lot the file lacks, sections that disagree (a row's
    lots and its kilograms, an adjustment and its journal entry, a row and
    the lineage written beside it: `lineage.lineage_problem`), a time of
    something done later than now, or a ledger whose reconciliation checks
    1–5 fail once written); NothingToRestore if it holds no rows (or only
    the ratio table this ledger has); returns rows per sheet."""
    # Every other write waits until the import ends (and one under way is
    # waited for): a ledger found empty stays so until the file is in it,
    # and of two imports at once the second finds the first's rows.
    await hold_tables(s, *SHEETS.values())
    # Ceilings with no pool yet are a ledger too: permit events applied
    # before the restore, which the file's rows would clash with or join;
    # so are settings, reservations, reclaims… (the ratio table aside, which
    # every installation starts with and a file replaces).
    for name in SHEETS:
        if name in REPLACED_SHEETS:
            continue
        if await s.scalar(select(func.count()).select_from(SHEETS[name])):
            raise ImportRefused(
                msg(
                    "the ledger is not empty: import only into a new one",
                    "台账非空：只能导入到新台账",
                )
            )
    try:
        sheets = list(_read_zip(content) if fmt == "csv" else _read_xlsx(content))
    except ImportRefused:
        raise
    except zipfile.BadZipFile as exc:
        # Both formats are ZIP files: anything else (a CSV file alone, a
        # page of HTML, a file cut short) is said so, in the reader's stead.
        raise ImportRefused(_not_a_zip(fmt)) from exc
    except Exception as exc:
        # Whatever else the file's reading fails with (a sheet's XML broken:
        # openpyxl and its XML parser raise many kinds) is the file's fault,
        # not the service's; their English is no answer for the user.
        raise ImportRefused(
            msg(
                f"not an export of this ledger: the {_FORMAT_NAMES[fmt][0]} cannot be read",
                f"不是本台账的导出文件：无法读取该{_FORMAT_NAMES[fmt][1]}",
            )
        ) from exc
    read: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for name, header, rows in sheets:
        read[name] = _values(name, header, rows)
        if name == "reclaims" and "reason" not in header:
            # An export made before candidates kept a reason (migration 0010).
            read[name] = with_reclaim_reasons(read[name])
        if name == "reservations":
            # An export made before migration 0011 may hold full-width refs:
            # stored so, the project was found by no request for it.
            if problem := folded_ref_problem(read[name]) or unnamed_ref_problem(read[name]):
                raise ImportRefused(problem)
            read[name] = with_folded_refs(read[name])
    if problem := ledger_problem(read, {name: unique_keys(SHEETS[name]) for name in read}):
        raise ImportRefused(problem)
    if problem := lineage_problem(read):
        raise ImportRefused(problem)
    if problem := future_problem(read, utcnow()):
        raise ImportRefused(problem)
    # Asked once the file is found sound: a file repeating a row (a key)
    # is refused for that, whatever it would change.
    if await _changes_nothing(s, read):
        raise NothingToRestore(
            msg(
                "nothing to restore: the file holds no rows (every table is empty, and its "
                "air_quality_ratios, if any, are the ratios this ledger already has): upload "
                "the export of the ledger to restore",
                "没有可恢复的内容：该文件各表均无数据（如有 air_quality_ratios，也与本台账现有的"
                "比例相同）：请上传要恢复的台账的导出文件",
            )
        )
    # A sheet an older export lacks is a table left empty.
    counts = dict.fromkeys(SHEETS, 0)
    for name, numbered in read.items():
        values = [row for _, row in numbered]
        if name in REPLACED_SHEETS:
            await s.execute(delete(SHEETS[name]))
        if values:
            try:
                # A savepoint only to name the row a refusal is for; the
                # refusal itself rolls the whole import back.
                async with s.begin_nested():
                    await s.execute(insert(SHEETS[name]), values)
            except (sa_exc.IntegrityError, sa_exc.DataError) as exc:
                # A row the table's keys or checks refuse (a duplicate id, a
                # negative balance): the file is no export of a sound ledger.
                raise ImportRefused(await _refused_row(s, name, numbered)) from exc
        counts[name] = len(values)
    pools = list((await s.scalars(select(Pool).order_by(Pool.id))).all())
    for check in (await ledger_checks(s, pools)).values():
        if not check.ok:
            first, more = check.failures[0], len(check.failures) - 1
            raise ImportRefused(
                msg(
                    f"the imported ledger fails reconciliation check R{check.number} "
                    f"{check.code}: {first}" + (f" (and {more} more)" if more else ""),
                    f"导入后的台账未通过对账检查 R{check.number} {check.code}：{first}"
                    + (f"（另有 {more} 处）" if more else ""),
                )
            )
    # Last: a file sound by every other rule whose reservations and swaps
    # still do not hold what its pools hold would restore tonnes held for good.
    if problem := holds_problem(read):
        raise ImportRefused(problem)
    if s.get_bind().dialect.name == "postgresql":
        for table_name, col in _SEQUENCED.items():
            await s.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table_name}', '{col}'), "
                    f"COALESCE((SELECT MAX({col}) FROM {table_name}), 0) + 1, false)"
                )
            )
    return counts
