"""Loading an export into an empty ledger: a file whose header names a
column twice, or whose JSON cell holds a lone surrogate escape ("\\ud800"),
is refused with why, and nothing is written."""

from __future__ import annotations

import io
import pathlib
import zipfile
from typing import Any

import pytest
from quota_svc.exports import service
from sqlalchemy import func, select
from svc_common.tables import AuditEntry, OutboxRow

from .conftest import ADMIN, AUDITOR, INVESTMENT, Quota
from .test_export_backing import fresh


def _edited(export: bytes, name: str, edit: str, encoding: str = "utf-8") -> bytes:
    """The CSV export with `name`.csv's text replaced by `edit`."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(export)) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            zout.writestr(item.filename, edit.encode(encoding) if item.filename == name else data)
    return out.getvalue()


async def _export_of_an_empty_ledger(quota: Quota) -> tuple[bytes, dict[str, str]]:
    r = await quota.client.get("/quota/export?format=csv", headers=AUDITOR)
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        headers = {n: z.read(n).decode().splitlines()[0] for n in z.namelist()}
    return r.content, headers


async def test_a_column_named_twice_refuses_the_import(quota: Quota) -> None:
    export, headers = await _export_of_an_empty_ledger(quota)
    header = headers["pools.csv"]
    twice = header.split(",")[1]
    upload = _edited(export, "pools.csv", f"{header},{twice}\n")
    r = await quota.client.post(
        "/quota/import?format=csv", content=upload, headers={**ADMIN, "accept-language": "zh-CN"}
    )
    assert r.status_code == 409, r.text
    assert r.json()["detail"] == f"pools：列 {twice} 在表头中出现了两次"


async def test_a_csv_saved_with_a_byte_order_mark_imports(quota: Quota) -> None:
    """A spreadsheet saving a CSV as UTF-8 (Excel's "CSV UTF-8") writes a
    byte order mark first: the header's first column read as "\\ufeffid",
    and the file was refused as having an unknown column."""
    export, headers = await _export_of_an_empty_ledger(quota)
    sound = _ledger(export, headers, _SOUND)
    with zipfile.ZipFile(io.BytesIO(sound)) as z:
        pools = z.read("pools.csv").decode()
    upload = _edited(sound, "pools.csv", "\ufeff" + pools)
    r = await quota.client.post("/quota/import?format=csv", content=upload, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["pools"] == 1


async def _written(q: Quota) -> tuple[int, int]:
    """(audit entries, outbox events) the service holds."""
    async with q.app.state.runtime.db.session() as s:
        audit = await s.scalar(select(func.count()).select_from(AuditEntry))
        events = await s.scalar(select(func.count()).select_from(OutboxRow))
    return int(audit or 0), int(events or 0)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_a_file_with_nothing_to_restore_is_refused(
    quota: Quota, db_url: str, tmp_path: pathlib.Path, fmt: str
) -> None:
    """The export of an empty ledger (every table empty, the ratio table a
    new installation starts with) restores nothing: 422 saying so, in both
    languages, and nothing recorded. Before, it was a 200 recorded in the
    audit trail as a restore of the ledger (`quota.import`)."""
    r = await quota.client.get(f"/quota/export?format={fmt}", headers=AUDITOR)
    assert r.status_code == 200, r.text
    async with fresh(db_url, tmp_path) as copy:
        before = await _written(copy)
        for language, said in (
            ("zh-CN", "没有可恢复的内容：该文件各表均无数据"),
            ("en", "nothing to restore: the file holds no rows"),
        ):
            answer = await copy.client.post(
                f"/quota/import?format={fmt}",
                content=r.content,
                headers={**ADMIN, "accept-language": language},
            )
            assert answer.status_code == 422, answer.text
            assert answer.headers["content-type"].startswith("application/problem+json")
            problem = answer.json()
            assert problem["detail"].startswith(said), problem
            assert [e["field"] for e in problem["errors"]] == ["body"], problem
        assert await _written(copy) == before


async def test_a_ratio_table_repeating_a_row_is_refused_for_it_not_as_empty(
    quota: Quota,
) -> None:
    """The ledger's own ratios with one row written twice are no sound
    export: refused naming the repeated row (409), as any table repeating a
    key is, not told "nothing to restore" (the check of the file comes
    before the check of what it would change)."""
    export, _ = await _export_of_an_empty_ledger(quota)
    with zipfile.ZipFile(io.BytesIO(export)) as z:
        lines = z.read("air_quality_ratios.csv").decode().splitlines()
    assert len(lines) > 2, lines  # a header and the ratios a ledger starts with
    upload = _edited(export, "air_quality_ratios.csv", "\n".join([*lines, lines[1]]) + "\n")
    r = await quota.client.post(
        "/quota/import?format=csv", content=upload, headers={**ADMIN, "accept-language": "zh-CN"}
    )
    assert r.status_code == 409, r.text
    assert r.json()["detail"].startswith(f"air_quality_ratios：第 {len(lines) + 1} 行"), r.text


async def test_a_file_of_a_ratio_table_alone_restores_it(
    quota: Quota, db_url: str, tmp_path: pathlib.Path
) -> None:
    """A file whose only rows set other ratios than the ledger's is a
    restore of them (the table a file replaces), recorded as such."""
    r = await quota.client.put(
        "/quota/air-quality-ratios/exceeded", json={"offset_ratio": "2.5"}, headers=ADMIN
    )
    assert r.status_code == 200, r.text
    export, _ = await _export_of_an_empty_ledger(quota)
    async with fresh(db_url, tmp_path) as copy:
        before = await _written(copy)
        r = await copy.client.post("/quota/import?format=csv", content=export, headers=ADMIN)
        assert r.status_code == 200, r.text
        assert r.json()["air_quality_ratios"] == 4 and r.json()["pools"] == 0
        assert (await _written(copy))[0] == before[0] + 1
        r = await copy.client.get("/quota/air-quality-ratios", headers=INVESTMENT)
        assert "2.50" in r.text, r.text


@pytest.mark.parametrize(
    ("fmt", "upload_of", "zh", "en"),
    [
        (
            "csv",
            lambda export: b"id,district\r\n120119:VOCs,120119\r\n",
            "该文件不是CSV 文件压缩包（ZIP）（format=csv）：请上传 GET /quota/export 导出的文件",
            "the file is not a ZIP of CSV files (format=csv)",
        ),
        (
            "xlsx",
            lambda export: b"<html>not a workbook</html>",
            "该文件不是XLSX 工作簿（format=xlsx）：请上传 GET /quota/export 导出的文件",
            "the file is not a XLSX workbook (format=xlsx)",
        ),
        (
            "csv",
            # 北京 in GBK, as a spreadsheet on a Chinese PC saves "CSV".
            lambda export: _edited(export, "pools.csv", "id,district\r\n北京\r\n", "gbk"),
            "pools.csv 不是 UTF-8 编码的文本：请按导出时的格式另存为 CSV UTF-8",
            "pools.csv is not UTF-8 text: save it as CSV UTF-8",
        ),
        (
            "csv",
            # A lone carriage return in a cell with no quotes round it.
            lambda export: _edited(export, "pools.csv", "id,district\r\nab\rc,120119\r\n"),
            "pools.csv 第 2 行：该行不是有效的 CSV：有单元格含换行符（单独的回车符）却未加双引号",
            "pools.csv, line 2: the row is not valid CSV: a cell holds a line break",
        ),
    ],
    ids=["csv-not-a-zip", "xlsx-not-a-zip", "csv-not-utf8", "csv-cr-unquoted"],
)
async def test_a_file_not_a_zip_or_not_utf8_is_refused_in_plain_words(
    quota: Quota, fmt: str, upload_of: Any, zh: str, en: str
) -> None:
    """Before, the refusal carried Python's own English in both languages
    ("不是本台账的导出文件：File is not a zip file", "…：'utf-8' codec can't
    decode byte 0xb1 in position 14: invalid start byte")."""
    export, _ = await _export_of_an_empty_ledger(quota)
    upload = upload_of(export)
    for language, want in (("zh-CN", zh), ("en", en)):
        r = await quota.client.post(
            f"/quota/import?format={fmt}",
            content=upload,
            headers={**ADMIN, "accept-language": language},
        )
        assert r.status_code == 409, r.text
        detail = r.json()["detail"]
        assert detail.startswith(want), detail
        for python in ("zip file", "codec", "byte 0x", "position", "universal-newline"):
            assert python not in detail, detail
    r = await quota.client.get("/quota/availability", headers=AUDITOR)
    assert r.status_code == 200 and {p["credited_t"] for p in r.json()} <= {"0.000"}, r.text


async def test_a_json_cell_with_a_lone_surrogate_refuses_the_import(quota: Quota) -> None:
    """The cell was stored (escaped) and read back into every answer naming
    the holding, which no answer can then be written with."""
    export, headers = await _export_of_an_empty_ledger(quota)
    header = headers["holdings.csv"].split(",")
    values = {
        "id": "h-1",
        "district": "120119",
        "pollutant": "VOCs",
        "pool_id": "120119:VOCs",
        "source": "baseline",
        "acquired_at": "2026-01-01T00:00:00+00:00",
        "valid_until": "2027-01-01T00:00:00+00:00",
        "lots": '"[[1, ""\\ud800""]]"',
    }
    row = ",".join(values.get(h, "0" if h.endswith(("_kg", "_hundredths")) else "") for h in header)
    upload = _edited(export, "holdings.csv", f"{','.join(header)}\n{row}\n")
    r = await quota.client.post("/quota/import?format=csv", content=upload, headers=ADMIN)
    assert r.status_code == 409, r.text
    assert r.json()["detail"].startswith("holdings: row 2, column lots: is not valid Unicode text")
    r = await quota.client.get("/quota/holdings?include_empty=true", headers=AUDITOR)
    assert r.status_code == 200 and r.json()["items"] == [], r.text


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_a_file_that_unpacks_too_large_refuses_the_import_unread(
    quota: Quota, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """A ZIP bomb: a few KiB sent, unpacked whole into memory (a sheet's
    blank rows are skipped, so the CSV one even imported). What the ZIP's
    directory says its members unpack to is bounded before any is read."""
    monkeypatch.setattr(service, "MAX_IMPORT_UNZIPPED", 1024 * 1024, raising=False)
    r = await quota.client.get(f"/quota/export?format={fmt}", headers=AUDITOR)
    assert r.status_code == 200, r.text
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(r.content)) as zin,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout,
    ):
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename in ("pools.csv", "xl/worksheets/sheet1.xml"):
                data += b"\r\n" * (1024 * 1024) if fmt == "csv" else b" " * (2 * 1024 * 1024)
            zout.writestr(item.filename, data)
    upload = out.getvalue()
    assert len(upload) < 64 * 1024
    r = await quota.client.post(
        f"/quota/import?format={fmt}", content=upload, headers={**ADMIN, "accept-language": "zh-CN"}
    )
    assert r.status_code == 413, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"] == "body"
    assert "解压后超过 1 MiB" in r.json()["detail"]
    # Nothing was written: the ledger is still empty (one written to
    # refuses every import as not empty, 409), so its own export, empty
    # too, has nothing to restore.
    r = await quota.client.get(f"/quota/export?format={fmt}", headers=AUDITOR)
    r = await quota.client.post(f"/quota/import?format={fmt}", content=r.content, headers=ADMIN)
    assert r.status_code == 422, r.text


_T = "2026-01-01T00:00:00+00:00"
_POOL = {
    "id": "120119:VOCs",
    "district": "120119",
    "pollutant": "VOCs",
    "kind": "district",
    "park_id": "",
    "credited_kg": "5000",
    "reserved_kg": "0",
    "allocated_kg": "0",
    "created_at": _T,
    "last_effective_at": _T,
}


@pytest.mark.parametrize(
    ("cells", "detail"),
    [
        ({"created_at": ""}, "pools：第 2 行 created_at 列：缺少时间：''"),
        (
            {"last_effective_at": "2026-13-01T00:00:00+00:00"},
            "pools：第 2 行 last_effective_at 列：不是 ISO",
        ),
        ({"credited_kg": "9" * 23}, "pools：第 2 行 credited_kg 列：不是整数"),
        ({"credited_kg": "1.5"}, "pools：第 2 行 credited_kg 列：不是整数：'1.5'"),
        ({"credited_kg": "-5", "reserved_kg": "7"}, "pools：第 2 行：不符合台账规则 ck_pools_"),
        (None, "pools：第 2 行有 2 个单元格，表头有 10 个"),
    ],
    ids=["empty-time", "bad-time", "huge-kg", "fraction-kg", "negative-balance", "short-row"],
)
async def test_a_pool_row_no_ledger_could_hold_refuses_the_import(
    quota: Quota, cells: dict[str, str] | None, detail: str
) -> None:
    """Before, an empty time, a number beyond 64 bits or a row the table's
    checks refuse was a 500; the parser's English words were the reason."""
    export, headers = await _export_of_an_empty_ledger(quota)
    header = headers["pools.csv"].split(",")
    assert set(header) == set(_POOL)
    row = "120119:VOCs,120119" if cells is None else ",".join({**_POOL, **cells}[h] for h in header)
    upload = _edited(export, "pools.csv", f"{','.join(header)}\n{row}\n")
    r = await quota.client.post(
        "/quota/import?format=csv", content=upload, headers={**ADMIN, "accept-language": "zh-CN"}
    )
    assert r.status_code == 409, r.text
    assert detail in r.json()["detail"]
    again, _ = await _export_of_an_empty_ledger(quota)
    with zipfile.ZipFile(io.BytesIO(again)) as z:
        assert z.read("pools.csv").decode().strip() == headers["pools.csv"]


# Rows of a sound one-pool ledger at zero balance, each table's first row;
# a case below changes some cells (or adds rows) to break one rule.
_ZERO = {**_POOL, "credited_kg": "0"}
_LOT = {
    "id": "1",
    "serial": "120119:VOCs:L000001",
    "pool_id": "120119:VOCs",
    "district": "120119",
    "pollutant": "VOCs",
    "source": "advance",
    "created_at": _T,
}
_MOVE = {"id": "1", "lot_id": "1", "pool_id": "120119:VOCs", "code": "credit", "at": _T}
_ENTRY = {
    "id": "1",
    "pool_id": "120119:VOCs",
    "district": "120119",
    "pollutant": "VOCs",
    "code": "baseline",
    "idempotency_id": "e-1",
    "effective_at": _T,
    "recorded_at": _T,
    "actor": "admin.zhang",
}
_HOLDING = {
    "id": "h-1",
    "district": "120119",
    "pollutant": "VOCs",
    "pool_id": "120119:VOCs",
    "source": "allocation",
    "offset_ratio_hundredths": "100",
    "lots": "[[1,0]]",
    "acquired_at": _T,
    "valid_until": "2031-01-01T00:00:00+00:00",
}
_DEBT = {
    "id": "d-1",
    "district": "120119",
    "pollutant": "VOCs",
    "pool_id": "120119:VOCs",
    "lot_id": "1",
    "status": "repaid",
    "due_at": _T,
    "approved_by": "admin.zhang",
    "created_at": _T,
}
_SOUND = {
    "pools.csv": [_ZERO],
    "lots.csv": [_LOT],
    "lot_movements.csv": [_MOVE],
    "journal.csv": [_ENTRY],
    "holdings.csv": [_HOLDING],
    "debts.csv": [_DEBT],
}


def _ledger(
    export: bytes, headers: dict[str, str], tables: dict[str, list[dict[str, str]]]
) -> bytes:
    """The export with each named table's rows replaced (cells not given:
    0 for an amount, empty otherwise; {} a blank line)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(export)) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename in tables:
                header = headers[item.filename].split(",")
                lines = [",".join(header)]
                for row in tables[item.filename]:
                    if not row:  # a blank line, which the import skips
                        lines.append("," * (len(header) - 1))
                        continue
                    assert set(row) <= set(header), set(row) - set(header)
                    amount = ("_kg", "_hundredths")
                    cells = [row.get(h, "0" if h.endswith(amount) else "") for h in header]
                    lines.append(",".join(f'"{c}"' if "," in c else c for c in cells))
                data = ("\n".join(lines) + "\n").encode()
            zout.writestr(item.filename, data)
    return out.getvalue()


async def _refused(quota: Quota, upload: bytes, language: str = "zh-CN") -> str:
    """The refusal's reason, after checking that nothing was written (every
    table as it was: empty, the ratio table a new installation starts with)."""
    before, _ = await _export_of_an_empty_ledger(quota)
    r = await quota.client.post(
        "/quota/import?format=csv", content=upload, headers={**ADMIN, "accept-language": language}
    )
    assert r.status_code == 409, r.text
    again, headers = await _export_of_an_empty_ledger(quota)
    with zipfile.ZipFile(io.BytesIO(again)) as z, zipfile.ZipFile(io.BytesIO(before)) as was:
        for name in z.namelist():
            assert z.read(name) == was.read(name), name
            if name != "air_quality_ratios.csv":
                assert z.read(name).decode().strip() == headers[name], name
    return str(r.json()["detail"])


async def test_a_sound_ledger_of_these_rows_imports(quota: Quota) -> None:
    """The rows the cases below break make, as they are, a ledger the import takes."""
    export, headers = await _export_of_an_empty_ledger(quota)
    r = await quota.client.post(
        "/quota/import?format=csv", content=_ledger(export, headers, _SOUND), headers=ADMIN
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "pools": 1,
        "lots": 1,
        "lot_movements": 1,
        "journal": 1,
        "holdings": 1,
        "debts": 1,
        "permit_backing": 0,
        # The tables later exports carry: empty in these rows, the ratio
        # table as the empty ledger exported it (a new installation's).
        "district_settings": 0,
        "air_quality": 0,
        "air_quality_ratios": 4,
        "advance_limits": 0,
        "reservations": 0,
        "swaps": 0,
        "trades": 0,
        "reclaims": 0,
        "adjustments": 0,
    }


async def test_the_issue_example_refuses_the_import(quota: Quota) -> None:
    """Before, a pool of no district, pollutant or kind the ledger knows was
    imported (200, "pools": 1)."""
    export, headers = await _export_of_an_empty_ledger(quota)
    row = {**_ZERO, "district": "999999", "pollutant": "XX", "kind": "zzz"}
    upload = _ledger(export, headers, {"pools.csv": [row]})
    detail = await _refused(quota, upload)
    assert detail.startswith("pools：第 2 行 district 列：'999999' 不是天津市 16 个区的区划代码")
    detail = await _refused(quota, upload, "en")
    assert detail.startswith("pools: row 2, column district: '999999' is not one of Tianjin's")


_BROKEN = [
    ("pools.csv", {"pollutant": "XX", "id": "120119:XX"}, "pools：第 2 行 pollutant 列：'XX' 不是"),
    ("pools.csv", {"kind": "zzz"}, "pools：第 2 行 kind 列：'zzz' 不是总量池类型"),
    ("pools.csv", {"id": "120119:NOx"}, "pools：第 2 行 id 列：应为 '120119:VOCs'"),
    ("pools.csv", {"kind": "reserve"}, "pools：第 2 行 id 列：应为 '120119:VOCs:reserve'"),
    ("pools.csv", {"park_id": "p1"}, "pools：第 2 行 park_id 列：只有园区子池有园区编号"),
    ("pools.csv", {"kind": "park", "id": "120119:VOCs:park:"}, "pools：第 2 行 park_id 列："),
    ("lots.csv", {"pool_id": "120115:VOCs"}, "lots：第 2 行 pool_id 列：文件中没有总量池"),
    ("lots.csv", {"district": "999999"}, "lots：第 2 行 district 列："),
    ("lots.csv", {"parent_lot_id": "9"}, "lots：第 2 行 parent_lot_id 列：文件中没有批次 9"),
    ("lot_movements.csv", {"lot_id": "9"}, "lot_movements：第 2 行 lot_id 列：文件中没有批次 9"),
    ("lot_movements.csv", {"pool_id": "x"}, "lot_movements：第 2 行 pool_id 列：文件中没有总量池"),
    ("lot_movements.csv", {"code": "zzz"}, "lot_movements：第 2 行 code 列：'zzz' 不是"),
    ("lot_movements.csv", {"counter_lot_id": "9"}, "lot_movements：第 2 行 counter_lot_id 列："),
    ("journal.csv", {"pool_id": "120115:VOCs"}, "journal：第 2 行 pool_id 列：文件中没有总量池"),
    ("journal.csv", {"code": "zzz"}, "journal：第 2 行 code 列：'zzz' 不是"),
    ("journal.csv", {"pollutant": "XX"}, "journal：第 2 行 pollutant 列：'XX' 不是"),
    ("holdings.csv", {"pool_id": "120115:VOCs"}, "holdings：第 2 行 pool_id 列：文件中没有总量池"),
    ("holdings.csv", {"lots": "[[9,0]]"}, "holdings：第 2 行 lots 列：文件中没有批次 9"),
    ("holdings.csv", {"lots": '{"a":1}'}, "holdings：第 2 行 lots 列：不是批次清单"),
    ("debts.csv", {"lot_id": "9"}, "debts：第 2 行 lot_id 列：文件中没有批次 9"),
    ("debts.csv", {"pool_id": "120115:VOCs"}, "debts：第 2 行 pool_id 列：文件中没有总量池"),
    ("debts.csv", {"status": "zzz"}, "debts：第 2 行 status 列：'zzz' 不是"),
    # In the file's pool, but of another district or pollutant than it: the
    # row would count in one district's figures and balance another's pool.
    ("lots.csv", {"district": "120115"}, "lots：第 2 行 district 列：与所属总量池不符"),
    ("lots.csv", {"pollutant": "NOx"}, "lots：第 2 行 pollutant 列：与所属总量池不符"),
    ("journal.csv", {"district": "120115"}, "journal：第 2 行 district 列：与所属总量池不符"),
    ("holdings.csv", {"district": "120115"}, "holdings：第 2 行 district 列：与所属总量池不符"),
    ("debts.csv", {"pollutant": "NOx"}, "debts：第 2 行 pollutant 列：与所属总量池不符"),
]


@pytest.mark.parametrize(
    ("name", "cells", "detail"),
    _BROKEN,
    ids=[f"{n.removesuffix('.csv')}-{','.join(c)}-{i}" for i, (n, c, _) in enumerate(_BROKEN)],
)
async def test_a_row_outside_the_ledgers_domain_refuses_the_import(
    quota: Quota, name: str, cells: dict[str, str], detail: str
) -> None:
    """A value no ledger of this system holds (a district, pollutant, pool
    kind or code it does not know, a pool id it would not build), or a
    reference to a pool or lot the file does not hold: before, imported."""
    export, headers = await _export_of_an_empty_ledger(quota)
    tables = {**_SOUND, name: [{**_SOUND[name][0], **cells}]}
    got = await _refused(quota, _ledger(export, headers, tables))
    assert got.startswith(detail), got


async def test_the_refusal_names_the_row_in_the_file(quota: Quota) -> None:
    export, headers = await _export_of_an_empty_ledger(quota)
    reserve = {**_ZERO, "id": "120119:VOCs:reserve", "kind": "reserve"}
    bad = {**_ZERO, "id": "120115:VOCs", "district": "120115", "kind": "zzz"}
    tables = {**_SOUND, "pools.csv": [_ZERO, {}, reserve, bad]}
    detail = await _refused(quota, _ledger(export, headers, tables))
    assert detail.startswith("pools：第 5 行 kind 列："), detail


async def test_a_ledger_that_fails_a_reconciliation_check_refuses_the_import(
    quota: Quota,
) -> None:
    """Every row in the ledger's domain, but the pool's balance is in no
    journal entry and no lot: the import would leave a ledger whose
    reconciliation fails; it names the first check that does."""
    export, headers = await _export_of_an_empty_ledger(quota)
    tables = {**_SOUND, "pools.csv": [{**_ZERO, "credited_kg": "5000"}]}
    detail = await _refused(quota, _ledger(export, headers, tables))
    assert detail.startswith("导入后的台账未通过对账检查 R1 journal_replays_to_balances："), detail
    assert "pool 120119:VOCs" in detail
    detail = await _refused(quota, _ledger(export, headers, tables), "en")
    assert detail.startswith(
        "the imported ledger fails reconciliation check R1 journal_replays_to_balances: "
    ), detail


async def test_a_table_refused_after_others_were_written_leaves_nothing(quota: Quota) -> None:
    """Pools are written before lots: a lot the table refuses (its id twice)
    must undo them too. Before, on SQLite, each table was written under a
    savepoint whose release committed the tables before it. The refusal
    names the row repeating the key (before, the table alone)."""
    export, headers = await _export_of_an_empty_ledger(quota)
    twice = {**_LOT, "serial": "120119:VOCs:L000002"}
    tables = {**_SOUND, "lots.csv": [_LOT, twice]}
    detail = await _refused(quota, _ledger(export, headers, tables))
    assert detail == "lots：第 3 行 id 列：与第 2 行的键 '1' 重复"


# A second pool, 宝坻区's VOCs, with a lot of its own: lot 2.
_BAODI = {**_ZERO, "id": "120115:VOCs", "district": "120115"}
_BAODI_LOT = {
    **_LOT,
    "id": "2",
    "serial": "120115:VOCs:L000001",
    "pool_id": "120115:VOCs",
    "district": "120115",
    "source": "baseline",
}
#: A swap settled from 蓟州区 to 宝坻区: its lots are those its approval held
#: in 蓟州区's pool (lot 1).
_SWAP = {
    "id": "sw-1",
    "from_district": "120119",
    "to_district": "120115",
    "pollutant": "VOCs",
    "amount_kg": "1000",
    "reason": "调剂",
    "status": "settled",
    "proposed_by": "officer.a",
    "proposed_at": _T,
    "from_approved_by": "officer.b",
    "from_approved_at": _T,
    "to_approved_by": "officer.c",
    "to_approved_at": _T,
    "effective_at": _T,
    "settled_at": _T,
    "lots": "[[1,1000]]",
}
_TWO_POOLS = {**_SOUND, "pools.csv": [_ZERO, _BAODI], "lots.csv": [_LOT, _BAODI_LOT]}
_OF_ANOTHER_POOL = [
    (
        "holdings.csv",
        _HOLDING,
        {"lots": "[[2,0]]"},
        "holdings：第 2 行 lots 列：批次 2 属于总量池 '120115:VOCs'，"
        "而非本行的总量池 '120119:VOCs'",
        "holdings: row 2, column lots: lot 2 is of pool '120115:VOCs', "
        "not of this row's pool '120119:VOCs'",
    ),
    (
        "holdings.csv",
        _HOLDING,
        {"lots": "[[1,0],[2,0]]"},
        "holdings：第 2 行 lots 列：批次 2 属于总量池 '120115:VOCs'",
        "holdings: row 2, column lots: lot 2 is of pool '120115:VOCs'",
    ),
    (
        "swaps.csv",
        _SWAP,
        {"lots": "[[2,1000]]"},
        "swaps：第 2 行 lots 列：批次 2 属于总量池 '120115:VOCs'，"
        "而非本调剂调出区的总量池 '120119:VOCs'",
        "swaps: row 2, column lots: lot 2 is of pool '120115:VOCs', not of the pool of "
        "the swap's source district (from_district) '120119:VOCs'",
    ),
    # Not in the file at all: refused before too.
    (
        "swaps.csv",
        _SWAP,
        {"lots": "[[9,1000]]"},
        "swaps：第 2 行 lots 列：文件中没有批次 9",
        "swaps: row 2, column lots: the file holds no lot 9",
    ),
]


@pytest.mark.parametrize(
    ("name", "row", "cells", "zh", "en"),
    _OF_ANOTHER_POOL,
    ids=["holding", "holding-second-lot", "swap", "swap-no-such-lot"],
)
async def test_a_holding_or_swap_naming_another_pools_lot_refuses_the_import(
    quota: Quota, name: str, row: dict[str, str], cells: dict[str, str], zh: str, en: str
) -> None:
    """A holding's lots are of its own pool (an allocation keeps its hold's,
    a trade the seller's, or across districts the buyer pool's new ones), a
    swap's of its source district's pool (held at its approval, moved out
    when settled). Before, a lot of another district's pool was imported:
    the holding's tonnes allocated in one pool's lots and another's
    balance, the swap's released or moved out of a pool that never held it."""
    export, headers = await _export_of_an_empty_ledger(quota)
    tables = {**_TWO_POOLS, name: [{**row, **cells}]}
    detail = await _refused(quota, _ledger(export, headers, tables))
    assert detail.startswith(zh), detail
    detail = await _refused(quota, _ledger(export, headers, tables), "en")
    assert detail.startswith(en), detail
    # The same file with the row naming its own pool's lot imports: a
    # holding; this hand-made settled swap is then refused only for lacking
    # the hold and held_out movements a real settlement writes beside it.
    sound = _ledger(export, headers, {**_TWO_POOLS, name: [row]})
    if name == "swaps.csv":
        detail = await _refused(quota, sound, "en")
        assert detail.startswith("swaps: row 2, column lots: lot 1: 1000 kg, but its hold"), detail
        return
    r = await quota.client.post("/quota/import?format=csv", content=sound, headers=ADMIN)
    assert r.status_code == 200, r.text


async def test_a_row_the_tables_checks_refuse_is_named_with_the_rule(quota: Quota) -> None:
    """A negative balance passes every check of the file and is refused by
    the table's own: the refusal said only "pools：有不符合台账规则的行（键重复
    或数额不一致）", no row, where every other refusal names it. It names
    the row and the rule it breaks, in both languages, nothing written."""
    export, headers = await _export_of_an_empty_ledger(quota)
    overdrawn = {**_BAODI, "credited_kg": "5", "reserved_kg": "7"}
    tables = {**_SOUND, "pools.csv": [_ZERO, overdrawn]}
    detail = await _refused(quota, _ledger(export, headers, tables))
    rule = "ck_pools_available (credited_kg - reserved_kg - allocated_kg >= 0)"
    assert detail == f"pools：第 3 行：不符合台账规则 {rule}", detail
    detail = await _refused(quota, _ledger(export, headers, tables), "en")
    assert detail == f"pools: row 3: breaks the ledger's rule {rule}", detail
