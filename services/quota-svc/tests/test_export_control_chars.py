"""A note may hold a tab, a line feed and a carriage return; the ledger
export carries each as it is, in CSV and XLSX, and its import restores it.
Before, a CSV field holding a bare CR was written unquoted (lines ended in
LF alone), so the import's CSV reader failed: a 500. The XLSX export wrote
the CR raw, which XML reads back as LF. A file the reader cannot parse is
refused with the documented 409 naming the table."""

from __future__ import annotations

import io
import pathlib
import zipfile

import pytest
from openpyxl import load_workbook

from .conftest import ADMIN, AUDITOR, JIZHOU, Quota
from .test_export_backing import export, fresh

NOTES = ["line one\rline two", "a\r\nb", "tab\there", "lf\nonly", "\rfirst", "_x000D_ as typed"]


def files(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        return {n: z.read(n) for n in z.namelist()}


async def notes(q: Quota) -> list[str]:
    r = await q.client.get("/quota/journal", headers=AUDITOR)
    assert r.status_code == 200, r.text
    return sorted(e.get("note") or "" for e in r.json()["items"])


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_a_note_with_a_carriage_return_survives_export_and_import(
    quota: Quota, db_url: str, tmp_path: pathlib.Path, fmt: str
) -> None:
    for note in NOTES:
        await quota.baseline(JIZHOU, "1", note=note)
    before = await notes(quota)
    assert sorted(NOTES) == [n for n in before if n]
    content = await export(quota, fmt)
    async with fresh(db_url, tmp_path) as copy:
        r = await copy.client.post(f"/quota/import?format={fmt}", content=content, headers=ADMIN)
        assert r.status_code == 200, r.text
        assert await notes(copy) == before
        again = await export(copy, fmt)
    if fmt == "csv":
        assert files(again) == files(content)
    else:
        book = load_workbook(io.BytesIO(content), read_only=True)
        cells = {c for row in book["journal"].iter_rows(values_only=True) for c in row}
        # As Excel writes it: a CR as its escape, an escape-like text kept apart.
        assert "line one_x000D_line two" in cells
        assert "_x005F_x000D_ as typed" in cells


async def test_an_unquoted_carriage_return_is_refused_naming_the_table(
    quota: Quota, db_url: str, tmp_path: pathlib.Path
) -> None:
    """What the export wrote before: the CR unquoted, lines ending in LF."""
    await quota.baseline(JIZHOU, "1", note="x")
    content = files(await export(quota, "csv"))
    journal = content["journal.csv"].decode().replace("\r\n", "\n").replace(",x,", ",a\rb,")
    assert "a\rb" in journal
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in content.items():
            z.writestr(name, journal.encode() if name == "journal.csv" else data)
    async with fresh(db_url, tmp_path) as copy:
        r = await copy.client.post(
            "/quota/import?format=csv",
            content=out.getvalue(),
            headers={**ADMIN, "accept-language": "zh-CN"},
        )
        assert r.status_code == 409, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["detail"].startswith("journal.csv 第 2 行：该行不是有效的 CSV"), r.json()
        assert await notes(copy) == []


@pytest.mark.parametrize(
    "broken",
    [b"PK\x03\x04 not a zip", b"", b"\x00" * 64],
    ids=["cut-zip", "empty", "zeros"],
)
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_a_file_that_is_no_export_is_a_409(quota: Quota, fmt: str, broken: bytes) -> None:
    r = await quota.client.post(f"/quota/import?format={fmt}", content=broken, headers=ADMIN)
    assert r.status_code == 409, r.text


async def test_an_xlsx_with_broken_sheet_xml_is_a_409(quota: Quota) -> None:
    await quota.baseline(JIZHOU, "1", note="x")
    content = await export(quota, "xlsx")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.startswith("xl/worksheets/sheet"):
                data = data[: len(data) // 2]
            zout.writestr(item.filename, data)
    r = await quota.client.post("/quota/import?format=xlsx", content=out.getvalue(), headers=ADMIN)
    assert r.status_code == 409, r.text


async def test_a_formula_with_no_saved_value_is_refused_where_it_is(
    quota: Quota, db_url: str, tmp_path: pathlib.Path
) -> None:
    """An export edited by a script (openpyxl writes a formula and no value):
    the cell read as empty and was refused as "缺少整数：''", as if cleared."""
    from openpyxl import load_workbook as load

    await quota.baseline(JIZHOU, "1", note="x")
    book = load(io.BytesIO(await export(quota, "xlsx")))
    pools = book["pools"]
    header = [c.value for c in pools[1]]
    column = header.index("credited_kg") + 1
    pools.cell(2, column).value = "=1000*1"
    out = io.BytesIO()
    book.save(out)
    async with fresh(db_url, tmp_path) as copy:
        for language, want in (
            ("zh-CN", "pools：第 2 行 credited_kg 列：该单元格是公式，文件中没有保存其计算结果"),
            ("en", "pools: row 2, column credited_kg: the cell is a formula with no saved value"),
        ):
            r = await copy.client.post(
                "/quota/import?format=xlsx",
                content=out.getvalue(),
                headers={**ADMIN, "accept-language": language},
            )
            assert r.status_code == 409, r.text
            assert r.json()["detail"].startswith(want), r.json()
            assert "粘贴为数值" in r.json()["detail"] or "Paste Special" in r.json()["detail"]
        assert await notes(copy) == []
