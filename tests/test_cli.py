"""The administrator's CLI (`bureau`): token refusals, import with a dry run
and an error report, export, quota show/check, migrate, against a real
`bureau run` process where the API is needed."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from openpyxl import Workbook, load_workbook
from svc_common import testing
from svc_common.settings import DEV_JWT_SECRET
from svc_common.uscc import make_uscc
from typer.testing import CliRunner

from bureau.cli import app
from bureau.stack import EmbeddedServer

runner = CliRunner()


def test_token_refuses_what_would_be_a_mistake() -> None:
    ok = runner.invoke(app, ["token", "--role", "officer", "--district", "120119,120115"])
    assert ok.exit_code == 0, ok.output
    claims = jwt.decode(ok.output.strip(), DEV_JWT_SECRET, algorithms=["HS256"])
    assert claims["districts"] == ["120115", "120119"] and claims["role"] == "officer"
    for args, why in (
        (["--role", "admin", "--district", "999999"], "not districts of the city"),
        (["--role", "admin", "--district", "110101"], "not districts of the city"),
        (["--role", "officer"], "an officer acts in named districts"),
        (["--role", "admin", "--hours", "0"], "between 1 and 720"),
        (["--role", "admin", "--hours", "-5"], "between 1 and 720"),
        (["--role", "mayor"], "role must be one of"),
    ):
        r = runner.invoke(app, ["token", *args])
        assert r.exit_code != 0, args
        assert why in " ".join(r.output.split()), (args, r.output)
    investment = runner.invoke(app, ["token", "--role", "investment"])
    assert investment.exit_code == 0


def test_token_names_a_filers_enterprise() -> None:
    """`--uscc`: the enterprise a filer's token acts for, checked as every
    service checks a code; refused for another role, whose token would not
    use it."""
    code = make_uscc("120119", 77)
    ok = runner.invoke(app, ["token", "--role", "filer", "--uscc", code])
    assert ok.exit_code == 0, ok.output
    claims = jwt.decode(ok.output.strip(), DEV_JWT_SECRET, algorithms=["HS256"])
    assert (claims["role"], claims["uscc"]) == ("filer", code)
    plain = runner.invoke(app, ["token", "--role", "filer"])
    assert "uscc" not in jwt.decode(plain.output.strip(), DEV_JWT_SECRET, algorithms=["HS256"])
    wrong = code[:17] + ("0" if code[17] != "0" else "1")
    for args, why in (
        (["--role", "filer", "--uscc", wrong], "校验码错误"),
        (["--role", "filer", "--uscc", code[:10]], "必须是 18 个字符"),
        # Empty (an unset variable: `--uscc "$USCC"`) is a code given, and
        # wrong, as the services read it: not a filer's token naming none.
        (["--role", "filer", "--uscc", ""], "必须是 18 个字符，实际为 0 个"),
        (["--role", "admin", "--uscc", ""], "only a filer's token names an enterprise"),
        (["--role", "admin", "--uscc", code], "only a filer's token names an enterprise"),
    ):
        r = runner.invoke(app, ["token", *args], env={"COLUMNS": "400"})
        assert r.exit_code == 2, (args, r.output)
        said = " ".join(r.output.split())
        assert why in said and "--uscc" in said, (args, r.output)


@pytest.mark.parametrize(
    "sub",
    [
        "a" * 500,
        "system",
        " ",
        "li\nhua",
        "li\u202ehua",
        "zhao.qiang ",
        "li.hua\u00a0",
        "li.hua\u200b",
        "\uff4c\uff49.\uff48\uff55\uff41",
        "l\u0456.hua",
        "li\u0307.hua",
        "l\u0131.hua",
        "\u0441\u0430\u043e.\u0443\u0435",
        "officer\u0661",
        "t.adm\u0131n2",
    ],
)
def test_token_refuses_a_subject_every_service_would_refuse(sub: str) -> None:
    """`--sub` of 500 characters (or `system`, a line break, a trailing or
    zero-width space, full-width letters, a Cyrillic і among Latin ones…)
    printed a token every service then answered 401 令牌的主体（sub）无效."""
    r = runner.invoke(app, ["token", "--role", "admin", "--sub", sub])
    assert r.exit_code == 2, r.output
    assert "--sub" in r.output and "主体" in r.output, r.output
    ok = runner.invoke(app, ["token", "--role", "admin", "--sub", "李华.li-hua"])
    assert ok.exit_code == 0, ok.output
    claims = jwt.decode(ok.output.strip(), DEV_JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == "李华.li-hua"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    base = tmp_path_factory.mktemp("cli")
    s = EmbeddedServer(base / "data", base / "server.log").start()
    try:
        yield s
    finally:
        s.stop()


def _enterprises_xlsx(path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["uscc", "name", "district", "industry_code", "address"])
    ws.append([make_uscc("120115", 501), "天津宝坻某涂料有限公司", "120115", "2641", "宝平街道"])
    ws.append(["91120115MA0000000X", "坏代码", "120115", "2641", ""])
    ws.append([make_uscc("120115", 502), "天津宝坻某印务有限公司", "120115", "9999", ""])
    wb.save(path)


def test_import_dry_run_checks_the_file_and_sends_nothing(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    f = tmp_path / "enterprises.xlsx"
    _enterprises_xlsx(f)
    report = tmp_path / "errors.csv"
    r = runner.invoke(
        app,
        [
            "import",
            "enterprises",
            str(f),
            "--dry-run",
            "--errors",
            str(report),
            "--api",
            server.url,
        ],
    )
    assert r.exit_code == 1  # a row is refused
    rows = list(csv.DictReader(io.StringIO(report.read_text(encoding="utf-8-sig"))))
    assert [row["row"] for row in rows] == ["2"] and "uscc" in rows[0]["errors"]
    got = httpx.get(
        f"{server.url}/permit/enterprises/{make_uscc('120115', 501)}",
        headers=testing.auth("admin"),
    )
    assert got.status_code == 404  # nothing was sent


def test_import_sends_rows_and_reports_the_services_refusals(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    f = tmp_path / "enterprises.xlsx"
    _enterprises_xlsx(f)
    report = tmp_path / "errors.xlsx"
    r = runner.invoke(
        app, ["import", "enterprises", str(f), "--errors", str(report), "--api", server.url]
    )
    assert r.exit_code == 1, r.output
    sheet = load_workbook(report, read_only=True).worksheets[0]
    failing = {row[0]: row[-1] for row in list(sheet.iter_rows(values_only=True))[1:]}
    assert set(failing) == {2, 3}  # the bad code (checked here), the unknown industry (service)
    assert "industry_code" in str(failing[3])
    got = httpx.get(
        f"{server.url}/permit/enterprises/{make_uscc('120115', 501)}",
        headers=testing.auth("admin"),
    )
    assert got.status_code == 200 and got.json()["name"] == "天津宝坻某涂料有限公司"

    # Quota baselines from a GBK CSV (as Excel saves it on a Chinese PC).
    baselines = tmp_path / "baselines.csv"
    baselines.write_bytes(
        "district,pollutant,amount_t,note\n120119,VOCs,12.000,存量基数\n120117,VOCs,x,坏数\n".encode(
            "gbk"
        )
    )
    r = runner.invoke(app, ["import", "baselines", str(baselines), "--api", server.url])
    assert r.exit_code == 1 and "1 rows failed" in r.output
    shown = runner.invoke(app, ["quota", "show", "--district", "120119", "--api", server.url])
    assert shown.exit_code == 0 and "12.000" in shown.output
    fits = runner.invoke(
        app, ["quota", "check", "--district", "120119", "--increment", "5", "--api", server.url]
    )
    assert fits.exit_code == 0 and "fits" in fits.output
    # Chinese first, as the rest of the CLI speaks; the English after it.
    first = fits.output.splitlines()[0]
    assert "可以容纳" in first and "120119 VOCs 新增 5 吨/年" in first, fits.output
    short = runner.invoke(
        app, ["quota", "check", "--district", "120119", "--increment", "7", "--api", server.url]
    )
    assert short.exit_code == 1 and "short by 2.000 t" in short.output
    assert "无法容纳，缺 2.000 吨" in short.output.splitlines()[0], short.output


def _credited(server: EmbeddedServer, district: str) -> str:
    got = httpx.get(f"{server.url}/quota/balances/{district}/VOCs", headers=testing.auth("admin"))
    assert got.status_code == 200, got.text
    return str(got.json()["credited_t"])


def test_a_baselines_file_imported_again_credits_nothing_twice(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    """Run again (after an interruption, or with a failing row mended), the
    rows that took effect are answered from the first import; rows alike in
    one file are each credited, and a changed row is a credit of its own."""
    table = tmp_path / "baselines.csv"
    table.write_text(
        "district,pollutant,amount_t,note\n"
        "120116,VOCs,3,一期\n120116,VOCs,3.000,一期\n120116,VOCs,x,坏数\n",
        encoding="utf-8",
    )
    first = runner.invoke(app, ["import", "baselines", str(table), "--api", server.url])
    assert first.exit_code == 1 and "1 rows failed" in first.output, first.output
    assert _credited(server, "120116") == "6.000"  # two rows alike: two credits
    # The failing row mended, the file imported again.
    table.write_text(
        "district,pollutant,amount_t,note\n"
        "120116,VOCs,3,一期\n120116,VOCs,3.000,一期\n120116,VOCs,1.5,坏数\n",
        encoding="utf-8",
    )
    again = runner.invoke(app, ["import", "baselines", str(table), "--api", server.url])
    assert again.exit_code == 0, again.output
    assert _credited(server, "120116") == "7.500"
    # Written another way (`3.0`), or with another note: the same credits.
    table.write_text(
        "district,pollutant,amount_t,note\n"
        "120116,VOCs,3.0,一期\n120116,VOCs,3,一期（复核）\n120116,VOCs,1.500,坏数\n",
        encoding="utf-8",
    )
    third = runner.invoke(app, ["import", "baselines", str(table), "--api", server.url])
    assert third.exit_code == 1 and "1 rows failed" in third.output, third.output
    assert _credited(server, "120116") == "7.500"


@pytest.fixture(scope="module")
def to_export(server: EmbeddedServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """What the export tests read, written by them: an enterprise and a
    baseline of 和平区 (120101), which no other test here touches. The
    module's tests share one server per worker, and pytest-xdist may run the
    import tests on the other worker. The enterprise's USCC."""
    base = tmp_path_factory.mktemp("to-export")
    uscc = make_uscc("120101", 777)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["uscc", "name", "district", "industry_code", "address"])
    ws.append([uscc, "天津和平某印务有限公司", "120101", "2641", "南营门街道"])
    wb.save(base / "enterprise.xlsx")
    r = runner.invoke(
        app, ["import", "enterprises", str(base / "enterprise.xlsx"), "--api", server.url]
    )
    assert r.exit_code == 0, r.output
    (base / "baseline.csv").write_text(
        "district,pollutant,amount_t,note\n120101,VOCs,3.000,存量基数\n", encoding="utf-8"
    )
    r = runner.invoke(app, ["import", "baselines", str(base / "baseline.csv"), "--api", server.url])
    assert r.exit_code == 0, r.output
    return uscc


def test_export_writes_csv_and_xlsx(server: EmbeddedServer, to_export: str, tmp_path: Path) -> None:
    out = tmp_path / "enterprises.csv"
    r = runner.invoke(app, ["export", "enterprises", "--out", str(out), "--api", server.url])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert to_export in {row["uscc"] for row in rows}
    journal = tmp_path / "journal.xlsx"
    r = runner.invoke(app, ["export", "journal", "--out", str(journal), "--api", server.url])
    assert r.exit_code == 0, r.output
    sheet = list(load_workbook(journal, read_only=True).worksheets[0].iter_rows(values_only=True))
    assert sheet[0][:3] == ("id", "pool_id", "code")
    assert any(row[1] == "120101:VOCs" and row[2] == "baseline" for row in sheet[1:])


def test_an_exported_table_imports_back_and_an_unknown_column_is_refused(
    server: EmbeddedServer, to_export: str, tmp_path: Path
) -> None:
    """`bureau export enterprises` writes `category` (derived from the
    industry), which the import leaves out; a column the service does not
    know (a misspelt `adress`) is refused row by row, not dropped."""
    out = tmp_path / "enterprises.csv"
    r = runner.invoke(app, ["export", "enterprises", "--out", str(out), "--api", server.url])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert rows and "category" in rows[0]
    edited = tmp_path / "edited.csv"
    with edited.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows([{**row, "name": row["name"] + "（改）"} for row in rows[:1]])
    r = runner.invoke(app, ["import", "enterprises", str(edited), "--api", server.url])
    assert r.exit_code == 0, r.output
    got = httpx.get(
        f"{server.url}/permit/enterprises/{rows[0]['uscc']}", headers=testing.auth("admin")
    )
    assert got.json()["name"] == rows[0]["name"] + "（改）"

    misspelt = tmp_path / "misspelt.csv"
    misspelt.write_text(
        f"uscc,name,district,industry_code,adress\n{rows[0]['uscc']},某企业,120115,2641,某路\n",
        encoding="utf-8",
    )
    report = tmp_path / "misspelt.errors.csv"
    r = runner.invoke(
        app, ["import", "enterprises", str(misspelt), "--errors", str(report), "--api", server.url]
    )
    assert r.exit_code == 1, r.output
    failing = list(csv.DictReader(io.StringIO(report.read_text(encoding="utf-8-sig"))))
    assert [row["row"] for row in failing] == ["1"] and "adress" in failing[0]["errors"]
    got = httpx.get(
        f"{server.url}/permit/enterprises/{rows[0]['uscc']}", headers=testing.auth("admin")
    )
    assert got.json()["name"] == rows[0]["name"] + "（改）"  # nothing was written


ADDRESS = "宝坻区某路1号"
#: Four enterprises' lines under one header: the first ends before
#: `address` (both optional columns left out: kept), the second before
#: `operating_status` (kept), the third empties the address, the fourth
#: leaves the status cell empty (no status given: kept).
_HEADER = "uscc,name,district,industry_code,address,operating_status"
_LINES = {
    801: "{u},企业801,120115,2641",
    802: "{u},企业802,120115,2641,新地址802",
    803: "{u},企业803,120115,2641,,operating",
    804: "{u},企业804,120115,2641,新地址804,",
}
_WANTED = {
    801: ("企业801", ADDRESS, "suspended"),
    802: ("企业802", "新地址802", "suspended"),
    803: ("企业803", "", "operating"),
    804: ("企业804", "新地址804", "suspended"),
}


def _registered_as_before(server: EmbeddedServer) -> None:
    """Each of `_LINES`' enterprises with an address and suspended."""
    rows = [
        {
            "uscc": make_uscc("120115", n),
            "name": "原名",
            "district": "120115",
            "industry_code": "2641",
            "address": ADDRESS,
            "operating_status": "suspended",
        }
        for n in _LINES
    ]
    r = httpx.post(
        f"{server.url}/permit/enterprises:import",
        content="\n".join(json.dumps(x) for x in rows).encode(),
        headers={**testing.auth("admin"), "content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200 and r.json()["totals"]["error"] == 0, r.text


def _stored(server: EmbeddedServer) -> dict[int, tuple[str, str, str]]:
    out = {}
    for n in _LINES:
        got = httpx.get(
            f"{server.url}/permit/enterprises/{make_uscc('120115', n)}",
            headers=testing.auth("admin"),
        )
        assert got.status_code == 200, got.text
        e = got.json()
        out[n] = (e["name"], e["address"], e["operating_status"])
    return out


@pytest.mark.parametrize("first", [801, 804], ids=["first-line-short", "first-line-whole"])
def test_each_row_is_imported_with_its_own_columns(
    server: EmbeddedServer, tmp_path: Path, first: int
) -> None:
    """`bureau import enterprises` sent each chunk under the columns of its
    first row: a first line ending before `address` dropped every other
    row's address (the changes silently lost), and under a whole first
    line a line ending early sent "" for what it left out (the address
    emptied, where the service reading the same file keeps it). Each row
    now does what the service does with it read from the file itself."""
    order = [first, *(n for n in _LINES if n != first)]
    f = tmp_path / "enterprises.csv"
    lines = [_LINES[n].format(u=make_uscc("120115", n)) for n in order]
    f.write_text("\n".join([_HEADER, *lines]) + "\n", encoding="utf-8")

    _registered_as_before(server)
    r = runner.invoke(app, ["import", "enterprises", str(f), "--api", server.url])
    assert r.exit_code == 0, r.output
    assert _stored(server) == _WANTED

    # The service, given the same file, reads it alike.
    _registered_as_before(server)
    direct = httpx.post(
        f"{server.url}/permit/enterprises:import",
        content=f.read_bytes(),
        headers={**testing.auth("admin"), "content-type": "text/csv"},
    )
    assert direct.status_code == 200 and direct.json()["totals"]["error"] == 0, direct.text
    assert _stored(server) == _WANTED


def test_every_bulk_upload_keeps_each_rows_columns() -> None:
    """The one way `bureau import` writes a chunk of rows for a service:
    JSON lines, each row with its own keys; or, for the CSV-only tables
    (industries, project types), a CSV under every column any row has,
    not the first row's."""
    from svc_common.uploads import parse_upload, table_rows

    from bureau.commands.importing import upload_body

    rows = [{"a": "1"}, {"a": "2", "b": ""}, {"a": "3", "c": "=x"}]
    body, media = upload_body(rows, json_lines=True)
    assert media == "application/x-ndjson"
    assert [r.data for r in parse_upload(media, body, max_rows=10)] == rows
    body, media = upload_body(rows, json_lines=False)
    assert body.decode().splitlines()[0] == "a,b,c"
    read = [r.cells for r in table_rows(body.decode(), ("a", "b", "c"))]
    assert read == [{"a": "1", "b": "", "c": ""}, {"a": "2", "b": "", "c": ""}, rows[2] | {"b": ""}]


def test_run_follows_missed_reports_from_last_year_unless_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`bureau run` (the demonstration) sets EXECUTION_REPORTS_OWED_FROM to
    1 January of the year before the one clock's today, so its 逾期未报 list
    does not go back to its permits' first years; a day the user set (in
    any case) stands."""
    import datetime as dt

    import svc_common.service
    from svc_common.calendar import local_date

    served: list[Any] = []
    monkeypatch.setattr(svc_common.service, "serve", lambda app, settings: served.append(app))
    names = ("EXECUTION_REPORTS_OWED_FROM", "execution_reports_owed_from", "CLOCK", "CLOCK_START")
    for name in names:
        # Set first so that what `run` writes in this process is undone.
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)

    def owed_from() -> Any:
        (embedded,) = served
        served.clear()
        return embedded.apps["/permit"].state.token_verifier.settings.execution_reports_owed_from

    r = runner.invoke(app, ["run", "--data-dir", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    year = local_date(dt.datetime.now(dt.UTC)).year
    assert owed_from() == dt.date(year - 1, 1, 1)
    # A manual clock's start is the demonstration's today.
    monkeypatch.delenv("EXECUTION_REPORTS_OWED_FROM")
    monkeypatch.setenv("CLOCK", "manual")
    monkeypatch.setenv("CLOCK_START", "2031-06-01T00:00:00Z")
    assert runner.invoke(app, ["run", "--data-dir", str(tmp_path / "b")]).exit_code == 0
    assert owed_from() == dt.date(2030, 1, 1)
    monkeypatch.delenv("CLOCK")
    monkeypatch.setenv("execution_reports_owed_from", "2019-07-01")
    assert runner.invoke(app, ["run", "--data-dir", str(tmp_path / "c")]).exit_code == 0
    assert owed_from() == dt.date(2019, 7, 1)


def test_migrate_creates_the_embedded_databases(tmp_path: Path) -> None:
    r = runner.invoke(app, ["migrate", "--data-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    # Every service `make run` serves: supervision-svc's database had been left out.
    for name in ("permit", "quota", "eia", "supervision"):
        assert (tmp_path / f"{name}.db").stat().st_size > 0
        assert f"{name}-svc: migrated" in r.output
    one = runner.invoke(app, ["migrate", "--service", "supervision", "--data-dir", str(tmp_path)])
    assert one.exit_code == 0, one.output
    again = runner.invoke(app, ["migrate", "--data-dir", str(tmp_path)])
    assert again.exit_code == 0
    r = runner.invoke(app, ["migrate", "--service", "nope", "--data-dir", str(tmp_path)])
    assert r.exit_code != 0


def test_an_exported_csv_never_runs_a_filed_name_as_a_formula() -> None:
    """What people open is quoted; what the CLI uploads for an import is
    quoted alike, and the service's reader takes the quote off again, so
    the service stores the name as it was (an apostrophe of its own too)."""
    from svc_common.uploads import parse_upload

    from bureau.commands.common import rows_to_csv

    rows = [{"enterprise_name": '=HYPERLINK("http://evil/")', "vocs_t": "-3.000", "uscc": "9112"}]
    shown = rows_to_csv(rows).decode().splitlines()[1]
    assert shown == '"\'=HYPERLINK(""http://evil/"")",-3.000,9112'
    row = {"name": "@家环保科技", "phone": "+86 22 5555 0101", "note": "-", "own": "'=x"}
    sent = rows_to_csv([row])
    assert sent.decode().splitlines()[1] == "'@家环保科技,'+86 22 5555 0101,'-,''=x"
    assert [r.data for r in parse_upload("text/csv", sent, max_rows=10)] == [row]


def test_an_export_and_an_upload_are_written_by_one_csv_writer(tmp_path: Path) -> None:
    """An export people open and an import's upload are the same CSV (a
    BOM before the export's): one writer, `rows_to_csv`, where there were
    two of one body."""
    from bureau.commands import common

    rows = [{"uscc": "9112", "name": "=1+1", "note": "'own"}]
    common.write_table(tmp_path / "out.csv", rows, ["uscc", "name", "note"])
    exported = (tmp_path / "out.csv").read_bytes()
    assert exported == b"\xef\xbb\xbf" + common.rows_to_csv(rows, ["uscc", "name", "note"])


#: Names the CSV-injection guard escapes, and names with an apostrophe of
#: their own (which it escapes too, or leaves alone), by serial number.
_GUARDED = {
    701: "=1+1",
    702: "@SUM(1,2)",
    703: "+86 热线",
    704: "-某企业",
    705: "'=已有撇号",
    706: "'撇号在前",
    707: "''两个撇号",
}


def _named(server: EmbeddedServer) -> dict[str, str]:
    got = {}
    for n in _GUARDED:
        r = httpx.get(
            f"{server.url}/permit/enterprises/{make_uscc('120116', n)}",
            headers=testing.auth("admin"),
        )
        assert r.status_code == 200, r.text
        got[make_uscc("120116", n)] = r.json()["name"]
    return got


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_export_and_import_keep_a_name_the_formula_guard_escapes(
    server: EmbeddedServer, tmp_path: Path, suffix: str
) -> None:
    """`bureau export enterprises` writes `=1+1` as `'=1+1`; `bureau import`
    (and `/permit/enterprises:import`) took the `'` for part of the name, so
    each round trip added one (`'@SUM(1,2)`, then `''@SUM(1,2)`). Exported
    and imported twice, the files are identical and no name changed."""
    for n, name in _GUARDED.items():
        r = httpx.post(
            f"{server.url}/permit/enterprises",
            json={
                "uscc": make_uscc("120116", n),
                "name": name,
                "district": "120116",
                "industry_code": "2641",
            },
            headers=testing.auth("admin"),
        )
        assert r.status_code in (201, 409), r.text
    expected = {make_uscc("120116", n): name for n, name in _GUARDED.items()}
    # A test before may have imported them already: start from the names.
    for uscc, name in expected.items():
        r = httpx.patch(
            f"{server.url}/permit/enterprises/{uscc}",
            json={"name": name},
            headers=testing.auth("admin"),
        )
        assert r.status_code == 200 or "没有变化" in r.text, r.text
    assert _named(server) == expected
    exports = []
    for round_trip in range(3):
        out = tmp_path / f"enterprises-{round_trip}{suffix}"
        r = runner.invoke(
            app,
            [
                "export",
                "enterprises",
                "--district",
                "120116",
                "--out",
                str(out),
                "--api",
                server.url,
            ],
        )
        assert r.exit_code == 0, r.output
        exports.append(out.read_bytes())
        if suffix == ".csv":
            text = out.read_text(encoding="utf-8-sig")
            assert "'=1+1" in text and "''=1+1" not in text
        r = runner.invoke(app, ["import", "enterprises", str(out), "--api", server.url])
        assert r.exit_code == 0, r.output
        assert _named(server) == expected
    if suffix == ".csv":
        assert exports[0] == exports[1] == exports[2]
    else:
        sheets = [
            list(
                load_workbook(io.BytesIO(x), read_only=True)
                .worksheets[0]
                .iter_rows(values_only=True)
            )
            for x in exports
        ]
        assert sheets[0] == sheets[1] == sheets[2]
    # The service itself reads the CLI's export as the CLI does.
    r = httpx.post(
        f"{server.url}/permit/enterprises:import",
        content=(tmp_path / "enterprises-0.csv").read_bytes()
        if suffix == ".csv"
        else (tmp_path / "enterprises-0.xlsx").read_bytes(),
        headers={
            **testing.auth("admin"),
            "content-type": "text/csv"
            if suffix == ".csv"
            else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        },
    )
    assert r.status_code == 200, r.text
    assert _named(server) == expected


def test_quota_check_with_a_refused_amount_is_a_usage_error(server: EmbeddedServer) -> None:
    """A refused increment printed a traceback and exited 1, the code that
    means "does not fit": a script could not tell a typo from a verdict."""
    r = runner.invoke(
        app, ["quota", "check", "--district", "120119", "--increment", "1e5", "--api", server.url]
    )
    assert r.exit_code == 2, r.output
    assert "increment_t" in r.output and "Traceback" not in r.output


def _bureau(*args: str) -> subprocess.CompletedProcess[str]:
    """The command as a person runs it (`python -m bureau`, the same entry
    as the installed `bureau`), not through CliRunner."""
    return subprocess.run(
        [sys.executable, "-m", "bureau", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_a_service_that_is_down_or_refuses_ends_with_a_reason_not_a_traceback(
    server: EmbeddedServer,
) -> None:
    """`quota show` or `export` against a closed port printed a screen of
    httpx traceback (and exited 1, as "does not fit" does); a bad token printed
    one ending in ApiFailed."""
    closed = f"http://127.0.0.1:{testing.free_port()}"
    for args in (["quota", "show"], ["quota", "check", "--district", "120119", "--increment", "1"]):
        down = _bureau(*args, "--api", closed)
        assert down.returncode == 3, down.stderr
        assert "Traceback" not in down.stderr and "cannot reach" in down.stderr
        assert closed in down.stderr and "无法连接服务" in down.stderr
    refused = _bureau("export", "permits", "--api", server.url, "--token", "nonsense")
    assert refused.returncode == 2, refused.stderr  # a token not accepted: usage
    assert "Traceback" not in refused.stderr and "401" in refused.stderr


PERMIT = {
    "id": "P1",
    "permit_no": "91120119000000001C001P",
    "uscc": "91120119000000001C",
    "enterprise_name": "天津汇鑫涂料有限公司",
    "district": "120119",
    "category": "key",
    "status": "issued",
    "vocs_t": "0.600",
    "quota_drawn_t": "0.000",
    "valid_from": "2022-01-01",
    "valid_to": "2026-12-31",
    "pollutants": [
        {"pollutant": "VOCs", "amount_t": "0.600"},
        {"pollutant": "NH3-N", "amount_t": "0.125"},
        {"pollutant": "NOx", "amount_t": "1.200"},
    ],
}
FILING = {
    "id": "F1",
    "status": "accepted",
    "created_at": "2026-12-31T16:30:00+00:00",
    "accepted_at": "2026-12-31T15:59:00Z",
    "due_on": "2027-01-05",
    "due_at": "2027-01-05T16:00:00+00:00",
    "decided_at": None,
}


@pytest.fixture
def lists() -> Iterator[str]:
    """A stand-in permit-svc and eia-svc: one permit, one filing."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            item = PERMIT if self.path.startswith("/permit/") else FILING
            body = json.dumps({"items": [item], "next_cursor": None}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_an_export_reads_as_an_officer_expects(lists: str, tmp_path: Path, suffix: str) -> None:
    """`bureau export permits` wrote `pollutants` as a Python list
    ("[{'pollutant': 'VOCs', …}]") and `export filings` every time in UTC:
    a deadline of 6 January in Beijing read 2027-01-05T16:00:00+00:00."""
    rows: list[dict[str, Any]] = []
    for what in ("permits", "filings"):
        out = tmp_path / f"{what}.{suffix}"
        r = runner.invoke(app, ["export", what, "--out", str(out), "--api", lists])
        assert r.exit_code == 0, r.output
        if suffix == "csv":
            rows += csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig")))
        else:
            sheet = load_workbook(out, read_only=True).worksheets[0]
            header, *values = sheet.iter_rows(values_only=True)
            # A row's empty cells at its end are not read back: None.
            rows += [dict(zip(header, v + (None,) * len(header), strict=False)) for v in values]
    permit, filing = rows
    assert "pollutants" not in permit and "{" not in " ".join(map(str, permit.values()))
    assert (permit["vocs_t"], permit["NOx_t"], permit["NH3-N_t"]) == ("0.600", "1.200", "0.125")
    assert list(permit)[-2:] == ["NOx_t", "NH3-N_t"]  # permit-svc's order of pollutants
    assert permit["valid_to"] == "2026-12-31"
    assert filing["created_at (北京时间)"] == "2027-01-01 00:30"
    assert filing["accepted_at (北京时间)"] == "2026-12-31 23:59"
    assert filing["due_on"] == "2027-01-05"  # the last day
    assert filing["due_at (北京时间)"] == "2027-01-06 00:00"  # the first instant past it
    assert filing["decided_at (北京时间)"] in ("", None)
    assert "created_at" not in filing
