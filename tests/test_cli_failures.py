"""`bureau` when what it is given or what it talks to is wrong: a file that
is not what it should be, a place it cannot write, a service that answers
an HTML page or 503, an option the service refuses. Each ends with one line
saying what is wrong and the documented exit code (2 a usage error, 1 a
refusal, 3 a service that cannot answer), never a traceback."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from svc_common import testing
from svc_common.uscc import make_uscc


def _bureau(
    *args: str, cwd: Path | None = None, columns: str | None = "200"
) -> subprocess.CompletedProcess[str]:
    """As a person runs it (not CliRunner, which skips bureau.cli._Bureau);
    `columns=None`: as piped to a file, with no COLUMNS set."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns:
        env["COLUMNS"] = columns
    return subprocess.run(
        [sys.executable, "-m", "bureau", *args],
        capture_output=True,
        text=True,
        # A bound on a hung command, not a timing: each run starts a Python
        # that imports the CLI (~3 s of CPU), on a machine that may be busy.
        timeout=180,
        cwd=cwd,
        env=env,
    )


class _Quiet(BaseHTTPRequestHandler):
    """A stand-in service's handler: reads the request, logs nothing."""

    def _read(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """The address of a stand-in service answering with `handler`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _answering(status: int, body: bytes, content_type: str) -> Iterator[str]:
    class Handler(_Quiet):
        def _answer(self) -> None:
            self._read()
            self._send(status, body, content_type)

        do_GET = do_POST = do_PUT = _answer

    yield from _serving(Handler)


@pytest.fixture
def login_page() -> Iterator[str]:
    """A proxy's sign-in page, answered 200 to every path."""
    yield from _answering(200, b"<html><body>SSO login</body></html>", "text/html")


@pytest.fixture
def unavailable() -> Iterator[str]:
    yield from _answering(
        503,
        b'{"title":"Service Unavailable","detail":"database down"}',
        "application/problem+json",
    )


def _no_traceback(r: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in r.stderr + r.stdout, r.stderr


def test_register_verify_of_what_is_not_a_register_is_a_usage_error(
    tmp_path: Path, login_page: str
) -> None:
    """Bad JSON, another table or a login page printed a traceback, or
    "broken" (exit 1: the verdict of a tampered register), or "intact"."""
    files = {
        "bad.json": b"{not json",
        "object.json": b'{"a": 1}',
        "numbers.json": b"[1, 2]",
        "other.csv": b"x,y\n1,2\n",
        "utf16.csv": "seq,prev_hash,hash\n".encode("utf-16"),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        r = _bureau("register", "verify", str(tmp_path / name))
        _no_traceback(r)
        assert r.returncode == 2, (name, r.stderr)
        assert "不是公开登记簿的副本" in r.stderr, (name, r.stderr)
    # A login page at the register's URL: the service was not reached (exit
    # code 3, as for every command; see the next test).
    page = _bureau("register", "verify", login_page)
    _no_traceback(page)
    assert page.returncode == 3 and "not the service" in page.stderr


def test_register_verify_of_a_register_out_of_reach_says_so(unavailable: str) -> None:
    closed = f"http://127.0.0.1:{testing.free_port()}"
    down = _bureau("register", "verify", closed)
    _no_traceback(down)
    assert down.returncode == 3 and "无法连接该登记簿网址" in down.stderr
    assert "BUREAU_API" not in down.stderr  # the URL was given, not --api
    refused = _bureau("register", "verify", unavailable)
    _no_traceback(refused)
    assert refused.returncode != 0 and "503" in refused.stderr


def test_register_verify_of_a_page_at_its_url_says_to_check_that_url(login_page: str) -> None:
    """The register's URL answering a page (a proxy's sign-in, the console's
    address given for it) said to check --api / BUREAU_API, which the
    command was not given: the URL given is the one to check, as when
    nothing answers there."""
    page = _bureau("register", "verify", login_page)
    _no_traceback(page)
    assert page.returncode == 3 and "not the service" in page.stderr, page.stderr
    assert "无法连接该登记簿网址" in page.stderr and "BUREAU_API" not in page.stderr


def test_register_verify_of_a_page_says_not_the_service_without_a_password(
    login_page: str,
) -> None:
    """A proxy's sign-in page at the register's URL was read as a broken
    register copy, and a refusal repeated the password the URL held."""
    page = _bureau("register", "verify", login_page)
    _no_traceback(page)
    assert page.returncode == 3 and "not the service" in page.stderr, page.stderr
    for url in _answering(404, b'{"detail":"no"}', "application/problem+json"):
        secret = url.replace("http://", "http://user:s3cretpw@")
        r = _bureau("register", "verify", secret)
        _no_traceback(r)
        assert r.returncode == 3 and "404" in r.stderr, r.stderr
        assert "s3cretpw" not in r.stderr + r.stdout, r.stderr


def test_register_verify_tells_a_register_not_read_from_a_broken_one(tmp_path: Path) -> None:
    """A 404 at the register's URL (a wrong URL, another service's JSON or
    text) ended with exit code 1, a broken chain's: a script could not tell
    "tampered" from "not verified". A register not read there is exit code
    3 (as when nothing answers), given to verify or to --against; a broken
    chain stays 1."""
    from quota_svc.register.rules import CSV_FIELDS, GENESIS

    entry = {f: "" for f in CSV_FIELDS} | {"seq": "1", "prev_hash": GENESIS, "hash": "ab" * 32}
    tampered = tmp_path / "register.csv"
    tampered.write_text(",".join(CSV_FIELDS) + "\n" + ",".join(entry.values()) + "\n")
    broken = _bureau("register", "verify", str(tampered))
    _no_traceback(broken)
    assert broken.returncode == 1 and "broken" in broken.stderr, broken.stderr
    extract = tmp_path / "extract.csv"
    extract.write_text(
        f"# filter: district=120119\n# head: seq=0;hash={GENESIS}\n{','.join(CSV_FIELDS)}\n"
    )
    for status, body, kind in (
        (404, b'{"detail":"Not Found"}', "application/json"),
        (404, b"404 page not found", "text/plain"),
        (403, b"forbidden", "text/plain"),
    ):
        for url in _answering(status, body, kind):
            for args in ([url], [str(extract), "--against", url]):
                r = _bureau("register", "verify", *args)
                _no_traceback(r)
                assert r.returncode == 3, (status, args, r.stderr)
                said = " ".join(r.stderr.split())
                assert f"answered {status}" in said and "无法连接该登记簿网址" in said, said
                assert "broken" not in said and "intact" not in said


def test_register_verify_reads_a_copy_saved_as_gbk(tmp_path: Path) -> None:
    """Excel saves a CSV as GBK (here an empty register with a column added);
    and a GBK byte must not be a UnicodeDecodeError."""
    copy = tmp_path / "register.csv"
    copy.write_bytes("seq,prev_hash,hash,备注\n".encode("gbk"))
    r = _bureau("register", "verify", str(copy))
    _no_traceback(r)
    assert r.returncode == 0 and "intact: 0 entries" in r.stderr


def test_a_report_or_export_that_cannot_be_written_is_refused_before_any_work(
    tmp_path: Path,
) -> None:
    """`--errors` or `--out` in a missing folder or naming a folder printed a
    FileNotFoundError/IsADirectoryError traceback, and only after the rows
    had been sent or the pages read."""
    table = tmp_path / "baselines.csv"
    table.write_text("district,amount_t\n120119,-1\n", encoding="utf-8")
    closed = f"http://127.0.0.1:{testing.free_port()}"  # nothing is asked
    for where in (tmp_path / "missing" / "report.csv", tmp_path):
        for args in (
            ["import", "baselines", str(table), "--dry-run", "--errors", str(where)],
            ["import", "baselines", str(table), "--errors", str(where), "--api", closed],
            ["export", "permits", "--out", str(where), "--api", closed],
        ):
            r = _bureau(*args)
            _no_traceback(r)
            assert r.returncode == 2, (args, r.stderr)
            assert ("文件夹不存在" in r.stderr) or ("是文件夹" in r.stderr), r.stderr
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize(
    "command",
    [
        ["export", "permits", "--out", "kept.csv"],
        ["export", "permits"],  # its default file, permits.csv
        ["alert", "measures", "A1", "--out", "kept.csv"],
    ],
)
def test_every_out_keeps_a_file_already_there_unless_forced(
    tmp_path: Path, command: list[str]
) -> None:
    """`bureau export … --out FILE` replaced a file already there, while
    `bureau alert measures --out FILE` refused it: every `--out` refuses
    one (exit 2, saying so in both languages, before any request) unless
    `--force`."""
    kept = tmp_path / ("kept.csv" if "--out" in command else "permits.csv")
    kept.write_bytes(b"the list of yesterday")
    closed = f"http://127.0.0.1:{testing.free_port()}"  # nothing is asked
    r = _bureau(*command, "--api", closed, cwd=tmp_path)
    _no_traceback(r)
    assert r.returncode == 2, r.stderr
    said = " ".join(r.stderr.split())
    assert "已存在，未覆盖；覆盖请加 --force" in said and "already exists" in said, r.stderr
    assert kept.read_bytes() == b"the list of yesterday"
    # Forced, the command goes on to ask the service (here, not reachable: 3).
    forced = _bureau(*command, "--force", "--api", closed, cwd=tmp_path)
    _no_traceback(forced)
    assert forced.returncode == 3, forced.stderr


def test_an_import_report_and_the_schemas_keep_a_file_already_there_unless_forced(
    tmp_path: Path,
) -> None:
    """`bureau import … --errors FILE` and `bureau schemas --out FOLDER`
    replaced a file already there in silence, where every `--out` refuses
    one: both refuse it now (exit 2, in the same words, nothing written)
    unless `--force`."""
    table = tmp_path / "baselines.csv"
    table.write_text("district,amount_t\n120119,-1\n", encoding="utf-8")
    kept = tmp_path / "kept.csv"
    kept.write_bytes(b"the report of yesterday")
    events = tmp_path / "events"
    events.mkdir()
    asyncapi = events / "asyncapi.json"
    asyncapi.write_bytes(b"the document of yesterday")
    commands = (
        (["import", "baselines", str(table), "--dry-run", "--errors", str(kept)], kept, 1),
        (["schemas", "--out", str(events)], asyncapi, 0),
    )
    for command, file, done in commands:
        r = _bureau(*command)
        _no_traceback(r)
        assert r.returncode == 2, (command, r.stderr)
        said = " ".join(r.stderr.split())
        assert "已存在，未覆盖；覆盖请加 --force" in said and "already exists" in said, said
        assert file.read_bytes().endswith(b"of yesterday")
        forced = _bureau(*command, "--force")
        _no_traceback(forced)
        assert forced.returncode == done, (command, forced.stderr)
        assert not file.read_bytes().endswith(b"of yesterday")
    assert "must be a number" in kept.read_text(encoding="utf-8-sig")
    assert json.loads(asyncapi.read_text())["asyncapi"]
    # The import's own report, FILE.errors.csv, is replaced by the next import.
    for _ in range(2):
        r = _bureau("import", "baselines", str(table), "--dry-run")
        assert r.returncode == 1, r.stderr
    assert (tmp_path / "baselines.errors.csv").is_file()


COMMANDS = (
    ["quota", "show"],
    ["export", "permits"],
    ["dlq", "list", "--json"],
    ["dlq", "show", "1"],
    ["sagas", "stuck", "--json"],
    ["outbox", "status", "--json"],
)


def test_a_service_that_cannot_answer_now_is_exit_code_3_and_retry(
    unavailable: str, tmp_path: Path
) -> None:
    """A 503 (the database down) or a gateway's 502 ended `quota show`,
    `export`, `dlq`… with exit code 1, the code of a refusal (and of "stuck"
    for `sagas stuck`), while `quota check` said 3; nothing said to retry."""
    for args in COMMANDS:
        r = _bureau(*args, "--api", unavailable, cwd=tmp_path)
        _no_traceback(r)
        assert r.returncode == 3, (args, r.stdout, r.stderr)
        assert "503" in r.stderr, (args, r.stderr)
        if args[0] != "outbox":  # names each service in its table instead
            assert "请稍后重试" in r.stderr, (args, r.stderr)
        # --json's stdout stays what a script parses: no message in it.
        assert "503" not in r.stdout, (args, r.stdout)


@pytest.mark.parametrize("status", [401, 403])
def test_a_token_the_service_does_not_accept_is_a_usage_error(status: int, tmp_path: Path) -> None:
    """A 401 (expired) or 403 (another role or districts) ended `sagas stuck`
    with exit code 1, the code that means "sagas are stuck", and `quota
    check` with the code of "does not fit"."""
    body = b'{"title":"Forbidden","detail":"not allowed"}'
    for url in _answering(status, body, "application/problem+json"):
        for args in (*COMMANDS, ["quota", "check", "--district", "120119", "--increment", "1"]):
            r = _bureau(*args, "--api", url, cwd=tmp_path)
            _no_traceback(r)
            assert r.returncode == 2, (args, r.stdout, r.stderr)
            assert str(status) in r.stderr and "--token" in r.stderr, (args, r.stderr)
            assert str(status) not in r.stdout, (args, r.stdout)


def test_an_html_page_instead_of_the_service_is_not_a_traceback(
    login_page: str, tmp_path: Path
) -> None:
    """A proxy's sign-in page answered 200 (a wrong --api) ended every
    command in AttributeError/JSONDecodeError tracebacks."""
    for args in (*COMMANDS, ["demo"]):
        r = _bureau(*args, "--api", login_page, cwd=tmp_path)
        _no_traceback(r)
        assert r.returncode == 3, (args, r.stdout, r.stderr)
        assert "not the service" in r.stderr, (args, r.stderr)
    assert not (tmp_path / "permits.csv").exists()


def test_another_sites_404_page_is_not_the_service(tmp_path: Path) -> None:
    """A wrong --api (the console's address, any web server) answered its
    own HTML 404: exit code 1, the code of a refusal, and the page printed."""
    page = b"<!doctype html><html lang='zh-CN'><body>Not found</body></html>"
    for url in _answering(404, page, "text/html; charset=utf-8"):
        for args in COMMANDS:
            r = _bureau(*args, "--api", url, cwd=tmp_path)
            _no_traceback(r)
            assert r.returncode == 3, (args, r.stdout, r.stderr)
            assert "not the service" in r.stderr and "doctype" not in r.stderr, (args, r.stderr)
            assert "doctype" not in r.stdout, (args, r.stdout)


def test_a_password_in_api_is_not_repeated(tmp_path: Path) -> None:
    r = _bureau("dlq", "list", "--api", "http://user:s3cretpw@127.0.0.1:1", cwd=tmp_path)
    _no_traceback(r)
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert "cannot reach http://127.0.0.1:1" in r.stderr, r.stderr
    assert "s3cretpw" not in r.stderr + r.stdout


def test_sagas_stuck_with_a_mistyped_duration_is_a_usage_error() -> None:
    """`--older-than 5minutes` went to eia-svc, whose 422 ended the command
    with exit code 1: the code that means "sagas are stuck"."""
    closed = f"http://127.0.0.1:{testing.free_port()}"  # not asked at all
    for wrong in ("5minutes", "P1M", "P9999D", ""):
        r = _bureau("sagas", "stuck", "--older-than", wrong, "--api", closed)
        _no_traceback(r)
        assert r.returncode == 2, (wrong, r.stderr)
        assert "--older-than" in r.stderr


@pytest.fixture
def gone_after_two() -> Iterator[str]:
    """Answers two baselines, then hangs up without answering (a restart, a
    dropped connection)."""
    answered: list[str] = []

    class Handler(_Quiet):
        def do_POST(self) -> None:
            self._read()
            if len(answered) >= 2:
                self.close_connection = True
                return
            answered.append(self.path)
            self._send(201, b'{"id": 1}', "application/json")

    yield from _serving(Handler)


def test_an_import_cut_off_midway_says_what_was_imported_and_what_not(
    tmp_path: Path, gone_after_two: str
) -> None:
    """The service went away after two of five baselines (credits, not
    idempotent): the command said only "cannot reach", wrote no report, and
    the administrator could not tell which rows to send again."""
    table = tmp_path / "baselines.csv"
    table.write_text(
        "district,amount_t\n120119,1\n120115,x\n120116,2\n120101,3\n120102,4\n120103,5\n",
        encoding="utf-8",
    )
    r = _bureau("import", "baselines", str(table), "--api", gone_after_two)
    _no_traceback(r)
    assert r.returncode == 3, r.stderr
    said = " ".join(r.stderr.split())
    assert "导入中断" in said and "2 rows imported, 3 not imported or not confirmed" in said
    assert "(from row 4)" in said and "cannot reach" in said
    report = (tmp_path / "baselines.errors.csv").read_text(encoding="utf-8-sig").splitlines()
    assert [line.split(",")[0] for line in report] == ["row", "2", "4", "5", "6"]
    assert "not a number" in report[1] and all("未导入或未确认" in x for x in report[2:])


def test_a_garbled_token_is_a_usage_error() -> None:
    """A token pasted with a line break in it was "cannot reach" (exit 3, an
    httpx error about a header); one with other characters a
    UnicodeEncodeError traceback."""
    closed = f"http://127.0.0.1:{testing.free_port()}"  # not asked at all
    for garbled in ("eyJ.a\nb.c", "令牌", "eyJ a.b"):
        for args in (["quota", "show"], ["export", "permits"], ["dlq", "list"]):
            r = _bureau(*args, "--api", closed, "--token", garbled)
            _no_traceback(r)
            assert r.returncode == 2, (args, garbled, r.stderr)
            assert "令牌格式无效" in r.stderr, r.stderr
    # Read from a file, with its line break: the token, not a refusal.
    r = _bureau("quota", "show", "--api", closed, "--token", "eyJ.a.b\n")
    assert r.returncode == 3 and "无法连接服务" in r.stderr, r.stderr


def test_a_port_out_of_range_or_a_file_for_a_folder_is_a_usage_error(tmp_path: Path) -> None:
    """`run --port 99999` served on another port (99999 mod 65536) while the
    log said 99999; `run --data-dir`, `migrate --data-dir` and
    `schemas --out` naming a file were FileExistsError tracebacks."""
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    for args in (
        ["run", "--port", "99999", "--data-dir", str(tmp_path / "data")],
        ["run", "--port", "0", "--data-dir", str(tmp_path / "data")],
        ["run", "--port", str(testing.free_port()), "--data-dir", str(a_file)],
        ["migrate", "--data-dir", str(a_file)],
        ["schemas", "--out", str(a_file)],
    ):
        try:
            r = _bureau(*args)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{args}: served instead of refusing")
        _no_traceback(r)
        assert r.returncode == 2, (args, r.stderr)
    assert not (tmp_path / "data").exists()


def test_the_error_report_never_overwrites_the_file_imported(tmp_path: Path) -> None:
    """`--errors` naming the imported file replaced the administrator's table
    with the report of its failing rows."""
    table = tmp_path / "baselines.csv"
    text = "district,amount_t\n120119,-1\n"
    table.write_text(text, encoding="utf-8")
    for same in (str(table), f"{tmp_path}/./baselines.csv"):
        r = _bureau("import", "baselines", str(table), "--dry-run", "--errors", same)
        _no_traceback(r)
        assert r.returncode == 2 and "会覆盖" in r.stderr, r.stderr
        assert table.read_text(encoding="utf-8") == text


@pytest.mark.parametrize("name", ["list.xlsx", "list.csv"])
def test_an_export_cut_off_while_written_leaves_the_file_as_it_was(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (or a full disk) while a list is written: the file keeps what
    it held, and nothing half-written is left beside it."""
    from openpyxl import Workbook

    from bureau.commands import common

    target = tmp_path / name
    target.write_bytes(b"the list of yesterday")
    rows = [{"uscc": f"9112011{i:011d}", "name": "某涂料有限公司"} for i in range(50)]

    save = Workbook.save

    def cut_off(self: Workbook, path: str) -> None:
        save(self, path)  # written, not yet in the list's place
        raise KeyboardInterrupt

    def cut_off_csv(rows: object, columns: object) -> bytes:
        raise KeyboardInterrupt

    monkeypatch.setattr(Workbook, "save", cut_off)
    monkeypatch.setattr(common, "rows_to_csv", cut_off_csv)
    with pytest.raises(KeyboardInterrupt):
        common.write_table(target, rows, ["uscc", "name"])
    assert target.read_bytes() == b"the list of yesterday"
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    monkeypatch.undo()
    common.write_table(target, rows, ["uscc", "name"])
    assert target.read_bytes() != b"the list of yesterday"
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


#: Commands that read the service's JSON, each against every answer below.
READERS = (
    ["quota", "show"],
    ["quota", "check", "--district", "120119", "--increment", "5"],
    ["export", "permits", "--out", "f.csv"],
    ["dlq", "list"],
    ["dlq", "show", "1"],
    ["dlq", "redrive", "1"],
    ["sagas", "stuck"],
    ["outbox", "status", "--json"],
    ["import", "enterprises", "enterprises.csv"],
    ["demo", "--baodi-permits", "8", "--baodi-registrations", "0"],
)


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1,2,3]", b'{"items":[1],"totals":{},"results":"x"}'],
    ids=["not-json", "a-list", "items-not-rows"],
)
def test_json_that_is_not_the_services_is_exit_code_3(body: bytes, tmp_path: Path) -> None:
    """200 application/json that is not what the service answers ended
    `export`, `quota show` and `quota check` in AttributeError, `'dict'
    object has no attribute 'sort'` or `KeyError: 'fits'` tracebacks (exit
    code 1, the code of "does not fit"); `dlq list` said so, exit code 3."""
    (tmp_path / "enterprises.csv").write_text(
        f"uscc,name,district,industry_code\n{make_uscc('120115', 1)},某厂,120115,2641\n",
        encoding="utf-8",
    )
    # Every command reads through one check (bureau.client.expect): each
    # command meets the subtlest body, three of them the other two.
    readers = READERS if body.startswith(b'{"items"') else READERS[:3]
    for url in _answering(200, body, "application/json"):
        # Two at a time: ten Pythons starting at once on two busy CPUs took
        # over a minute each.
        with ThreadPoolExecutor(2) as pool:
            runs = pool.map(lambda args, at=url: _bureau(*args, "--api", at, cwd=tmp_path), readers)
        for args, r in zip(readers, runs, strict=True):
            _no_traceback(r)
            assert r.returncode == 3, (args, r.stdout, r.stderr)
            said = " ".join(r.stderr.split())
            assert "not the service's JSON" in said, (args, r.stderr)
    assert not (tmp_path / "f.csv").exists()


@pytest.fixture
def same_cursor() -> Iterator[str]:
    """A list whose every page names the same next page."""
    asked: list[str] = []

    class Handler(_Quiet):
        def do_GET(self) -> None:
            self._read()
            asked.append(self.path)
            if len(asked) > 50:  # the command would read for ever
                self._send(500, b'{"detail":"asked 50 times"}', "application/problem+json")
                return
            body = b'{"items":[{"id":"P1"}],"next_cursor":"c2"}'
            self._send(200, body, "application/json")

    yield from _serving(Handler)


def test_a_list_whose_next_page_is_always_the_same_is_not_read_for_ever(
    same_cursor: str, tmp_path: Path
) -> None:
    """`export` read the same page again for ever when the answer named the
    cursor it had just been asked with."""
    r = _bureau("export", "permits", "--out", "f.csv", "--api", same_cursor, cwd=tmp_path)
    _no_traceback(r)
    assert r.returncode == 3, r.stderr
    said = " ".join(r.stderr.split())
    assert "next_cursor" in said and "never end" in said and "asked 50" not in said, said
    assert not (tmp_path / "f.csv").exists()


def test_a_gateways_error_page_is_named_not_printed(tmp_path: Path) -> None:
    """`bureau demo` (and every command) against a gateway answering 501
    printed the page's HTML in its message."""
    page = (
        b"<!DOCTYPE html>\n<html><head><title>501 Not Implemented</title></head>"
        b"<body><h1>Not Implemented</h1><p>[bold]nginx</p></body></html>"
    )
    for url in _answering(501, page, "text/html"):
        for args in (["demo"], ["quota", "show"], ["export", "permits"], ["dlq", "list"]):
            r = _bureau(*args, "--api", url, cwd=tmp_path)
            _no_traceback(r)
            assert r.returncode == 3, (args, r.stderr)
            said = " ".join(r.stderr.split())
            assert "501" in said and "501 Not Implemented" in said, (args, said)
            assert "<" not in said and "nginx" not in said, (args, said)


def _pool(district: str, name: str, amount: str, park: str | None = None) -> dict[str, object]:
    return {
        "pool_id": f"{district}:VOCs" + (f":{park}" if park else ""),
        "district": district,
        "district_name": name,
        "pollutant": "VOCs",
        "kind": "park" if park else "district",
        "park_id": park,
        "credited_t": amount,
        "reserved_t": "123456.789",
        "allocated_t": "0.000",
        "available_t": amount,
        "offset_ratio": "1.50",
        "max_project_increment_t": "1180.000",
    }


POOLS = [
    _pool("120116", "滨海新区", "1770.000"),
    _pool("120116", "滨海新区", "150.000", park="nangang-petrochemical-industrial-zone"),
    _pool("120119", "蓟州区", "12.000"),
]


def _whole(shown: str) -> None:
    """Every amount, name and park of POOLS in `shown`, none cut off."""
    assert "…" not in shown, shown
    for p in POOLS:
        for value in (p["credited_t"], p["reserved_t"], p["max_project_increment_t"]):
            assert f" {value} " in shown, (value, shown)
    for header in ("credited", "reserved", "allocated", "available", "district"):
        assert header in shown, shown
    # The text columns read top to bottom, as folded at a terminal.
    rows = [line.split("│") for line in shown.splitlines() if line.startswith("│")]
    district, pool = ("".join(r[i].replace(" ", "") for r in rows) for i in (1, 2))
    assert "120116滨海新区" in district and "nangang-petrochemical-industrial-zone" in pool


def test_quota_show_to_a_file_cuts_off_no_amount(tmp_path: Path) -> None:
    """`bureau quota show > qs.txt` showed `1770.0…`, `credit…` and
    `滨海新…`: Rich's 80 columns where no terminal is."""
    for url in _answering(200, json.dumps(POOLS).encode(), "application/json"):
        r = _bureau("quota", "show", "--api", url, cwd=tmp_path, columns=None)
        _no_traceback(r)
        assert r.returncode == 0, r.stderr
        _whole(r.stdout)
        assert "120116 滨海新区" in r.stdout  # one line per pool in a file


def test_quota_show_in_an_80_column_terminal_folds_names_not_amounts() -> None:
    from rich.console import Console

    from bureau.commands.common import print_table
    from bureau.commands.quota import POOLS as SHAPE
    from bureau.commands.quota import pools_table

    buf = io.StringIO()
    terminal = Console(file=buf, force_terminal=True, width=80, color_system=None)
    print_table(terminal, pools_table("VOCs", SHAPE.validate_python(POOLS)))
    _whole(buf.getvalue())
    # Names fold to fit: the table is no wider than its amounts need.
    assert "120116 滨海新区" not in buf.getvalue()


def test_dead_letters_to_a_file_are_listed_whole(tmp_path: Path) -> None:
    """`bureau dlq list > dl.txt` cut event types and keys at 80 columns."""
    letter = {
        "id": 123456789,
        "consumer_group": "supervision-svc",
        "event_type": "permit.permit.suspension-lifted.v1",
        "key": "P-2027-120119-000042",
        "attempts": 12,
        "occurrences": 3,
        "created_at": "2027-01-05T16:00:00+00:00",
        "last_seen_at": "2027-01-06T16:00:00+00:00",
        "error": "IntegrityError: duplicate key value violates unique constraint",
    }
    page = json.dumps({"items": [letter], "next_cursor": None}).encode()
    for url in _answering(200, page, "application/json"):
        r = _bureau("dlq", "list", "--api", url, cwd=tmp_path, columns=None)
        _no_traceback(r)
        assert r.returncode == 0, r.stderr
        assert "…" not in r.stdout, r.stdout
        for value in ("123456789", letter["event_type"], letter["key"], letter["error"]):
            assert str(value) in r.stdout, (value, r.stdout)
