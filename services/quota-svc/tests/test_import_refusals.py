"""Loading an export into an empty ledger: a file whose header names a
column twice is refused with why, and nothing is written."""

from __future__ import annotations

import io
import zipfile

from .conftest import ADMIN, AUDITOR, Quota


def _edited(export: bytes, name: str, edit: str) -> bytes:
    """The CSV export with `name`.csv's text replaced by `edit`."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(export)) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            zout.writestr(item.filename, edit.encode() if item.filename == name else data)
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
