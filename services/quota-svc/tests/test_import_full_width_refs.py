"""An export made before migration 0011 may carry a reservation's project
ref typed in full width ("ＢＤ－１"). Its import now stores the ref as the
migration wrote such refs, in ASCII ("BD-1"), so a request for the project
finds it; before, it was stored as it came, a request for "BD-1" found
nothing and held the project a second time. Two live reservations of
one project once folded are refused (409 naming both rows), as the
migration left such a pair for an officer to resolve — on SQLite and
PostgreSQL."""

from __future__ import annotations

import pathlib
from typing import Any

from quota_svc.exports.refs import folded_ref_problem, unnamed_ref_problem, with_folded_refs
from svc_common import i18n

from .conftest import ADMIN, BAODI, INVESTMENT, Quota
from .test_export_backing import export, fresh
from .test_export_live_ledger import live_ledger
from .test_import_tampered import Rows, edited, where

#: "BD-1" as a Chinese IME in full-width mode types it.
WIDE = "ＢＤ－１"


def _held_twice(rows: Rows, seen: list[Rows]) -> Rows:
    """A second live hold of BD-1's project, its ref in full width (`seen`
    gets the rows as exported)."""
    seen.append(rows)
    (held,) = [r for r in rows if r["status"] == "held" and r["project_ref"] == "BD-1"]
    return [*rows, {**held, "id": "r-twin", "idempotency_id": "twin", "project_ref": WIDE}]


async def test_a_full_width_project_ref_is_restored_in_ascii(
    quota: Quota, db_url: str, tmp_path: pathlib.Path
) -> None:
    ids = await live_ledger(quota)
    content = edited(
        await export(quota, "csv"), "reservations", where("project_ref", "BD-1", project_ref=WIDE)
    )
    async with fresh(db_url, tmp_path) as copy:
        r = await copy.client.post("/quota/import?format=csv", content=content, headers=ADMIN)
        assert r.status_code == 200, r.text
        r = await copy.client.get(f"/quota/reservations/{ids['plain']}", headers=ADMIN)
        assert r.status_code == 200, r.text
        assert r.json()["project_ref"] == "BD-1"
        # The project's own request again finds its hold (the same request:
        # its answer), where it made a second one (201).
        body = {"district": BAODI, "increment_t": "1", "project_ref": "BD-1"}
        r = await copy.client.post("/quota/reservations", json=body, headers=ADMIN)
        assert (r.status_code, r.json()["id"]) == (200, ids["plain"]), r.text


async def test_two_live_holds_of_one_project_once_folded_are_refused(
    quota: Quota, db_url: str, tmp_path: pathlib.Path
) -> None:
    await live_ledger(quota)
    seen: list[Rows] = []
    content = edited(await export(quota, "csv"), "reservations", lambda r: _held_twice(r, seen))
    [rows] = seen
    # Rows as the file numbers them (the header is row 1).
    held = next(i for i, r in enumerate(rows, start=2) if r["project_ref"] == "BD-1")
    twin = len(rows) + 2
    async with fresh(db_url, tmp_path) as copy:
        for language, start, first in (
            (
                "zh-CN",
                f"reservations：第 {twin} 行 project_ref 列：'ＢＤ－１' 按迁移 0011",
                f"即 'BD-1'，与第 {held} 行生效预占的项目（'BD-1'）相同",
            ),
            (
                "en",
                f"reservations: row {twin}, column project_ref: 'ＢＤ－１' is 'BD-1'",
                f"the project of row {held}'s live reservation ('BD-1')",
            ),
        ):
            r = await copy.client.post(
                "/quota/import?format=csv",
                content=content,
                headers={**ADMIN, "accept-language": language},
            )
            assert r.status_code == 409, r.text
            detail = r.json()["detail"]
            assert detail.startswith(start), detail
            assert first in detail, detail
        r = await copy.client.get("/quota/availability", headers=INVESTMENT)
        assert {p["credited_t"] for p in r.json()} <= {"0.000"}, r.text


async def test_a_live_ref_no_request_could_name_once_folded_is_refused(
    quota: Quota, db_url: str, tmp_path: pathlib.Path
) -> None:
    """A ref "ＢＤ－１" typed with a trailing ideographic space folds to "BD-1 ",
    a ref the API refuses (a space around it): stored so, as it was, no
    request found the project and one for "BD-1" held it a second time.
    The import is refused (409 naming the row and column, and why), and
    nothing is written."""
    await live_ledger(quota)
    content = edited(
        await export(quota, "csv"),
        "reservations",
        where("project_ref", "BD-1", project_ref=WIDE + "\u3000"),
    )
    async with fresh(db_url, tmp_path) as copy:
        for language, said in (
            (
                "zh-CN",
                "project_ref 列：'ＢＤ－１\\u3000'：编号首尾不得有空白字符；任何请求都无法指明",
            ),
            ("en", "column project_ref: 'ＢＤ－１\\u3000': a reference may not begin or end"),
        ):
            r = await copy.client.post(
                "/quota/import?format=csv",
                content=content,
                headers={**ADMIN, "accept-language": language},
            )
            assert r.status_code == 409, r.text
            assert said in r.json()["detail"], r.json()["detail"]
        r = await copy.client.get("/quota/availability", headers=INVESTMENT)
        assert {p["credited_t"] for p in r.json()} <= {"0.000"}, r.text


# --- the rules, without a database ---------------------------------------------


def _res(number: int, ref: str, status: str = "held") -> tuple[int, dict[str, Any]]:
    return number, {"id": f"r-{number}", "project_ref": ref, "status": status}


def test_refs_fold_as_migration_0011_folds_them() -> None:
    rows = [
        _res(2, "ｐ－９\u3000Ａ"),
        _res(3, "Ｐ-9", "released"),
        _res(4, "P-9"),
        # Case kept; other compatibility forms are not what anyone types for
        # ASCII and are kept too (as fold_width and the migration keep them).
        _res(5, "①ﬁ", "expired"),
    ]
    assert folded_ref_problem(rows) is None
    assert [r["project_ref"] for _, r in with_folded_refs(rows)] == ["p-9 A", "P-9", "P-9", "①ﬁ"]


def test_a_live_pair_of_one_project_once_folded_names_both_rows() -> None:
    with i18n.use("en"):
        # A resolved one is folded whatever else exists; two live ones are not.
        assert folded_ref_problem([_res(2, "P-9"), _res(3, "Ｐ-9", "expired")]) is None
        found = folded_ref_problem([_res(2, "Ｐ-9", "allocated"), _res(3, "P－9")])
        assert found is not None
        assert found.startswith("reservations: row 3, column project_ref: 'P－9' is 'P-9'")
        assert "row 2's live reservation ('Ｐ-9')" in found
        # The same ref written alike twice is the repeated-key rule's.
        assert folded_ref_problem([_res(2, "P-9"), _res(3, "P-9")]) is None


def test_only_a_live_ref_the_api_would_refuse_is_refused() -> None:
    with i18n.use("en"):
        # Inside, an ideographic space is a space the API keeps (`HT-1 补充协议`).
        assert unnamed_ref_problem([_res(2, "ＢＤ\u3000１")]) is None
        # A resolved one is history, kept as written.
        assert unnamed_ref_problem([_res(2, " P-9", "released")]) is None
        for ref in ("P-9\u3000", " P-9", "P\u200b-9", "\u3000"):
            found = unnamed_ref_problem([_res(2, "P-1"), _res(3, ref, "allocated")])
            assert found is not None and found.startswith(
                f"reservations: row 3, column project_ref: {ref!r}: a reference may"
            ), found
