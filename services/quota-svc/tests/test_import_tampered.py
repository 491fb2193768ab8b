"""An export edited before its import is refused (409, naming the table,
the row as the file numbers it and the column, in zh-CN and English) and
nothing is written — on SQLite and PostgreSQL. Before, each file below
imported: a pending reclaim raised to 99,999.999 t (or moved to another
district's officer) credited quota no permit backed; an advance lot
without its debt kept the advance as quota for good; an offset ratio of
1000.00 made every later read of the district a 422; a holding named a
trade or reservation the file lacked (404), a settled trade came back
proposed (to be approved and moved a second time); and a duplicate key or
a second live hold of a project was refused naming the table alone."""

from __future__ import annotations

import csv
import io
import pathlib
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from quota_svc.exports.rules import ledger_problem
from svc_common import testing

from .conftest import ADMIN, ADMIN2, BAODI, INVESTMENT, JIZHOU, Quota
from .test_export_backing import export, fresh
from .test_export_live_ledger import live_ledger
from .test_ledger_beyond import post, uscc
from .test_reclaim_backing import cancelled, issued

Rows = list[dict[str, str]]

SELLER, BUYER = uscc("IMPSEL1"), uscc("IMPBUY1")


async def tampered_ledger(q: Quota) -> None:
    """The live ledger of test_export_live_ledger (an advance, settings, a
    held reservation), a closed plant's pending reclaim of 1 t of VOCs in
    蓟州区, and in 宝坻区 a holding allocated to a seller, 0.5 t of it sold."""
    await live_ledger(q)
    for e in (issued("PM-IMP", VOCs="1"), cancelled("PM-IMP", VOCs="1")):
        await testing.deliver(q.app, e)
    body = {"district": BAODI, "increment_t": "0.5", "project_ref": "BD-2", "uscc": SELLER}
    held = await post(q, "/quota/reservations", body, ADMIN, 201)
    await post(q, f"/quota/reservations/{held['id']}/allocate", {}, ADMIN)
    sale = {
        "seller": SELLER,
        "buyer": BUYER,
        "district": BAODI,
        "amount_t": "0.5",
        "price_cny_per_t": "1.00",
        "contract_ref": "C-imp",
    }
    t = await post(q, "/quota/trades", sale, ADMIN, 201)
    assert (await post(q, f"/quota/trades/{t['id']}/approve", None, ADMIN2))["status"] == "settled"


def edited(content: bytes, name: str, edit: Callable[[Rows], Rows]) -> bytes:
    """The CSV export with `name`.csv's rows (column → cell) edited."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == f"{name}.csv":
                reader = csv.DictReader(io.StringIO(data.decode()))
                header = list(reader.fieldnames or ())
                rows = edit(list(reader))
                text = io.StringIO()
                w = csv.DictWriter(text, header, lineterminator="\r\n")
                w.writeheader()
                w.writerows(rows)
                data = text.getvalue().encode()
            zout.writestr(item.filename, data)
    return out.getvalue()


def where(column: str, value: str, **cells: str) -> Callable[[Rows], Rows]:
    """Rows whose `column` is `value` get `cells`."""
    return lambda rows: [{**r, **cells} if r[column] == value else r for r in rows]


def first(**cells: str) -> Callable[[Rows], Rows]:
    return lambda rows: [{**rows[0], **cells}, *rows[1:]]


def dropping(test: Callable[[dict[str, str]], bool]) -> Callable[[Rows], Rows]:
    def edit(rows: Rows) -> Rows:
        kept = [r for r in rows if not test(r)]
        assert len(kept) < len(rows)
        return kept

    return edit


def twice(index: int = 0) -> Callable[[Rows], Rows]:
    return lambda rows: [*rows, rows[index]]


def second_live_hold(rows: Rows) -> Rows:
    (held,) = [r for r in rows if r["status"] == "held" and r["project_ref"] == "BD-1"]
    return [*rows, {**held, "id": "r-twin", "idempotency_id": "twin"}]


CASES: list[tuple[str, Callable[[Rows], Rows], str, str]] = [
    # 1. reclaims
    (
        "reclaims",
        where("source", "permit_cancelled", amount_kg="99999999"),
        "amount_kg",
        "许可证 'PM-IMP' 的事件共释放 VOCs 1000 千克",
    ),
    ("reclaims", where("source", "permit_cancelled", district="120101"), "pool_id", "应为"),
    ("reclaims", where("source", "permit_cancelled", amount_kg="0"), "amount_kg", "必须大于 0"),
    ("permit_backing", first(freed_kg="2000"), "freed_kg", "释放 2000 千克"),
    # 2. debts
    ("debts", dropping(lambda r: r["status"] == "open"), "id", "先用后补批次"),
    ("debts", first(amount_kg="1"), "amount_kg", "应为 3375"),
    ("debts", first(status="repaid"), "status", "尚欠 3375 千克"),
    # 3. settings
    ("district_settings", first(offset_ratio_hundredths="100000"), "offset_ratio_hundredths", ""),
    ("district_settings", first(offset_ratio_hundredths="0"), "offset_ratio_hundredths", ""),
    ("district_settings", first(hold_days="-5"), "hold_days", "-5 超出接口允许的范围（1 至 3650）"),
    ("district_settings", first(effective_from="2000-01-01T00:00:00+00:00"), "effective_from", ""),
    ("advance_limits", first(limit_kg="-1"), "limit_kg", "-1 超出"),
    ("advance_limits", first(term_days="0"), "term_days", "0 超出"),
    ("air_quality_ratios", first(offset_ratio_hundredths="-1"), "offset_ratio_hundredths", ""),
    # 4. references and effects
    ("trades", dropping(lambda r: True), "trade_id", "文件中没有交易"),
    ("reservations", dropping(lambda r: r["project_ref"] == "BD-2"), "reservation_id", ""),
    ("trades", first(status="proposed"), "decided_by", "待审核的交易不应有审核记录"),
    ("trades", first(status="proposed", decided_by="", decided_at=""), "status", "应为已交割"),
    # 5. keys
    ("holdings", twice(), "id", "与第 2 行的键"),
    ("debts", twice(), "id", "与第 2 行的键"),
    ("reservations", second_live_hold, "project_ref", "项目 'BD-1' 的第二笔生效预占"),
]

#: The table whose row a case's refusal names, where not the table edited.
NAMED = {0: "reclaims", 4: "lots", 14: "holdings", 15: "holdings"}


@pytest.mark.parametrize(
    ("case", "name", "edit", "column", "why"),
    [(i, *c) for i, c in enumerate(CASES)],
    ids=[f"{i}-{c[0]}-{c[2]}" for i, c in enumerate(CASES)],
)
async def test_a_tampered_export_is_refused_naming_row_and_column(
    quota: Quota,
    db_url: str,
    tmp_path: pathlib.Path,
    case: int,
    name: str,
    edit: Callable[[Rows], Rows],
    column: str,
    why: str,
) -> None:
    await tampered_ledger(quota)
    content = await export(quota, "csv")
    async with fresh(db_url, tmp_path) as copy:
        r = await copy.client.post("/quota/import?format=csv", content=content, headers=ADMIN)
        assert r.status_code == 200, r.text  # the file as exported imports
    upload = edited(content, name, edit)
    async with fresh(db_url, tmp_path) as copy:
        table = NAMED.get(case, name)
        for language, prefix in (("zh-CN", f"{table}：第 "), ("en", f"{table}: row ")):
            r = await copy.client.post(
                "/quota/import?format=csv",
                content=upload,
                headers={**ADMIN, "accept-language": language},
            )
            assert r.status_code == 409, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            detail = r.json()["detail"]
            assert detail.startswith(prefix), detail
            assert f" {column} 列：" in detail or f", column {column}: " in detail, detail
            if language == "zh-CN":
                assert why in detail, detail
        r = await copy.client.get("/quota/availability", headers=INVESTMENT)
        assert r.status_code == 200, r.text
        assert {p["credited_t"] for p in r.json()} <= {"0.000"}, r.text


def test_the_rules_need_no_database() -> None:
    """The checks are plain functions of the rows read."""
    pool = {"id": f"{JIZHOU}:VOCs", "district": JIZHOU, "pollutant": "VOCs", "kind": "district"}
    lot = {"id": 1, "pool_id": pool["id"], "district": JIZHOU, "pollutant": "VOCs"}
    advance: dict[str, Any] = {**lot, "source": "advance", "original_kg": 500, "repaid_kg": 0}
    problem = ledger_problem({"pools": [(2, pool)], "lots": [(2, advance)], "debts": []})
    assert problem is not None and problem.startswith("lots: row 2, column id: advance lot 1")
    setting = {"district": JIZHOU, "pollutant": "VOCs", "offset_ratio_hundredths": 100000}
    problem = ledger_problem({"district_settings": [(2, {**setting, "hold_days": 90})]})
    assert problem is not None
    assert problem.startswith("district_settings: row 2, column offset_ratio_hundredths: 100000")
