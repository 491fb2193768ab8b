"""`bureau alert issue|lift|list|show|measures` against a real `bureau run`:
heavy-pollution alerts without hand-written HTTP requests, times typed and
shown in Beijing time, refusals with the documented exit codes."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from svc_common import testing
from svc_common.settings import DEV_JWT_SECRET
from svc_common.tokens import mint_token
from svc_common.uscc import make_uscc
from typer.testing import CliRunner

from bureau.cli import app
from bureau.stack import EmbeddedServer

runner = CliRunner()
#: 宁河区: no other CLI test issues alerts there.
DISTRICT = "120117"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    base = tmp_path_factory.mktemp("cli-alerts")
    s = EmbeddedServer(base / "data", base / "server.log").start()
    try:
        yield s
    finally:
        s.stop()


def _bureau(*args: str) -> subprocess.CompletedProcess[str]:
    """As a person runs it (CliRunner skips bureau.cli._Bureau, which gives
    a refusal its exit code)."""
    return subprocess.run(
        [sys.executable, "-m", "bureau", *args],
        capture_output=True,
        text=True,
        timeout=180,  # a bound on a hung command, not a timing
        env={**os.environ, "COLUMNS": "200"},
    )


def _alert(*args: str) -> dict[str, object]:
    r = runner.invoke(app, ["alert", *args, "--json"])
    assert r.exit_code == 0, r.output
    answer: dict[str, object] = json.loads(r.stdout)
    return answer


def _graded_enterprise(server: EmbeddedServer, tmp: Path) -> str:
    """An operating enterprise of the district graded D, as permit-svc and
    supervision-svc know it: the alert's measures list it."""
    uscc = make_uscc(DISTRICT, 4242)
    (tmp / "e.csv").write_text(
        f"uscc,name,district,industry_code,address\n{uscc},天津宁河某涂装有限公司,"
        f"{DISTRICT},2641,芦台镇\n",
        encoding="utf-8",
    )
    r = runner.invoke(app, ["import", "enterprises", str(tmp / "e.csv"), "--api", server.url])
    assert r.exit_code == 0, r.output
    token = mint_token(DEV_JWT_SECRET, sub="admin.test", role="admin")
    grade = {
        "grade": "D",
        "industry": "涂装",
        "valid_from": "2026-01-01",
        "valid_to": "2027-12-31",
        "basis": "绩效分级评定",
    }
    # supervision-svc learns of the enterprise from permit-svc's event.
    for _ in range(100):
        g = httpx.put(
            f"{server.url}/supervision/grades/{uscc}",
            json=grade,
            headers={"Authorization": f"Bearer {token}"},
        )
        if g.status_code != 404:
            break
        time.sleep(0.2)
    assert g.status_code == 200, g.text
    return uscc


def test_an_alert_is_issued_changed_lifted_shown_and_its_measures_saved(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    """No command for alerts: an administrator wrote the HTTP requests by
    hand, with the offsets the API wants."""
    uscc = _graded_enterprise(server, tmp_path)
    api = ["--api", server.url]
    issued = _alert(
        "issue", "--level", "orange", "--district", DISTRICT,
        "--from", "2026-03-08", "--to", "2026-03-10 12:00", "--note", "橙色预警", *api,
    )  # fmt: skip
    assert issued["level"] == "orange" and issued["districts"] == [DISTRICT]
    # A date alone is that Beijing day's 00:00; a time without offset is Beijing time.
    assert issued["starts_at"].startswith("2026-03-07T16:00")  # type: ignore[union-attr]
    assert issued["ends_at"].startswith("2026-03-10T04:00")  # type: ignore[union-attr]
    # Run again (a lost answer): the same alert, not a 409 against itself.
    again = runner.invoke(
        app,
        ["alert", "issue", "--level", "orange", "--district", DISTRICT, "--from", "2026-03-08",
         "--to", "2026-03-10 12:00", "--note", "橙色预警", *api, "--json"],
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["id"] == issued["id"]
    # Another level over it, without --replaces: refused, exit code 1, in Chinese first.
    refused = _bureau(
        "alert", "issue", "--level", "red", "--district", DISTRICT,
        "--from", "2026-03-09T00:00+08:00", "--to", "2026-03-10", *api,
    )  # fmt: skip
    assert refused.returncode == 1, refused.stderr
    assert "409" in refused.stderr and str(issued["id"]) in refused.stderr
    assert "Traceback" not in refused.stderr
    red = _alert(
        "issue", "--level", "red", "--district", DISTRICT, "--from", "2026-03-09T00:00+08:00",
        "--to", "2026-03-10", "--replaces", str(issued["id"]), *api,
    )  # fmt: skip
    assert red["replaces"] == [issued["id"]]
    shown = runner.invoke(app, ["alert", "show", str(issued["id"]), *api])
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.stdout.split())
    assert (
        "橙色预警（orange）" in text and "2026-03-08 00:00" in text and "2026-03-10 12:00" in text
    )
    assert re.search(r"状态 state │ 已解除（lifted）", text)  # by the service's clock
    assert "已解除 lifted 2026-03-09 00:00" in text and str(red["id"]) in text
    lifted = _alert(
        "lift", str(red["id"]), "--at", "2026-03-09 18:30", "--reason", "气象条件好转", *api
    )
    assert lifted["lifted_at"].startswith("2026-03-09T10:30")  # type: ignore[union-attr]
    assert _alert("lift", str(red["id"]), "--at", "2026-03-09 18:30",
                  "--reason", "气象条件好转", *api)["lifted_at"] == lifted["lifted_at"]  # fmt: skip
    table = runner.invoke(app, ["alert", "measures", str(red["id"]), *api])
    assert table.exit_code == 0, table.output
    assert uscc in table.stdout and "停产" in table.stdout, table.stdout
    out = tmp_path / "measures.csv"
    saved = runner.invoke(app, ["alert", "measures", str(red["id"]), "--out", str(out), *api])
    assert saved.exit_code == 0, saved.output
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][1] == "统一社会信用代码" and rows[1][1] == uscc
    # An existing file or a missing folder: refused before any request.
    closed = f"http://127.0.0.1:{testing.free_port()}"
    for target, why in ((out, "已存在"), (tmp_path / "no" / "m.csv", "文件夹不存在")):
        r = runner.invoke(app, ["alert", "measures", "x", "--out", str(target), "--api", closed])
        assert r.exit_code == 2 and why in r.output, r.output
    assert out.read_bytes() == data


def test_alert_commands_refuse_with_the_documented_exit_codes(server: EmbeddedServer) -> None:
    """A time not typed as one or an unknown level is a usage error (2),
    before any request; an unknown alert a refusal (1); a service that
    cannot be reached 3 — each one line, never a traceback."""
    closed = f"http://127.0.0.1:{testing.free_port()}"
    for args, hint in (
        (["--level", "orange", "--from", "12月8日", "--to", "2026-03-10"], "--from"),
        (["--level", "purple", "--from", "2026-03-08", "--to", "2026-03-10"], "--level"),
    ):
        r = runner.invoke(app, ["alert", "issue", "--district", DISTRICT, *args, "--api", closed])
        assert r.exit_code == 2 and hint in r.output, r.output
    # The levels it takes said as every command says them: name, then code.
    assert "黄色预警（yellow）" in r.output, r.output
    r = runner.invoke(app, ["alert", "lift", "A1", "--at", "tomorrow", "--api", closed])
    assert r.exit_code == 2 and "--at" in r.output, r.output
    missing = _bureau("alert", "show", "no-such-alert", "--api", server.url)
    assert missing.returncode == 1 and "404" in missing.stderr, missing.stderr
    assert "没有预警" in missing.stderr and "Traceback" not in missing.stderr
    down = _bureau("alert", "measures", "A1", "--api", closed)
    assert down.returncode == 3 and "无法连接服务" in down.stderr, down.stderr


def test_alerts_are_listed_with_their_state_in_beijing_time(server: EmbeddedServer) -> None:
    """Which alert is in force in a district, and which was at a time:
    found without knowing an id (there was no list: an alert was found only
    by the id `issue` printed)."""
    api = ["--api", server.url]
    district = "120111"  # 西青区: no other CLI test issues alerts there
    old = _alert(
        "issue", "--level", "yellow", "--district", district,
        "--from", "2026-01-05", "--to", "2026-01-07", *api,
    )  # fmt: skip
    late = _alert(
        "issue", "--level", "red", "--district", district,
        "--from", "2099-01-05", "--to", "2099-01-06", *api,
    )  # fmt: skip
    listed = _alert("list", "--district", district, *api)
    assert [a["id"] for a in listed["items"]] == [late["id"], old["id"]]  # type: ignore[index]
    assert [a["state"] for a in listed["items"]] == ["upcoming", "ended"]  # type: ignore[index]
    # A time typed in Beijing time: 6 January, 23:30 there is still the yellow's.
    at = _alert("list", "--district", district, "--at", "2026-01-06 23:30", *api)
    assert [a["id"] for a in at["items"]] == [old["id"]]  # type: ignore[index]
    assert _alert("list", "--district", district, "--at", "2026-01-07", *api)["items"] == []
    upcoming = _alert("list", "--district", district, "--state", "upcoming", *api)
    assert [a["id"] for a in upcoming["items"]] == [late["id"]]  # type: ignore[index]

    table = runner.invoke(app, ["alert", "list", "--district", district, *api])
    assert table.exit_code == 0, table.output
    text = " ".join(table.stdout.split())
    assert str(old["id"]) in text and "黄色预警（yellow）" in text and "已结束（ended）" in text
    assert "2026-01-05 00:00" in text and "2026-01-07 00:00" in text  # Beijing time
    assert "未开始（upcoming）" in text and "西青区" in text
    none = runner.invoke(app, ["alert", "list", "--district", district, "--state", "lifted", *api])
    assert none.exit_code == 0 and "没有符合条件的预警" in none.stdout, none.output


def test_alerts_of_several_districts_are_listed_each_once(server: EmbeddedServer) -> None:
    """`list --district A --district B`, as `issue` takes them, listed B's
    alerts alone (the last given), silently; it lists the alerts naming
    either, each once, the latest start first, as the service orders one."""
    api = ["--api", server.url]
    jinnan, beichen = "120112", "120113"  # no other CLI test issues alerts there
    issued = [
        _alert(
            "issue",
            "--level",
            "yellow",
            *(f for d in ds for f in ("--district", d)),
            "--from",
            start,
            "--to",
            end,
            *api,
        )
        for ds, start, end in (
            ([jinnan], "2026-02-01", "2026-02-02"),
            ([beichen], "2026-02-03", "2026-02-04"),
            ([jinnan, beichen], "2026-02-05", "2026-02-06"),
        )
    ]
    both = _alert("list", "--district", jinnan, "--district", beichen, *api)
    ids = [a["id"] for a in both["items"]]  # type: ignore[index]
    assert ids == [a["id"] for a in reversed(issued)], ids
    table = runner.invoke(app, ["alert", "list", "--district", jinnan, "--district", beichen, *api])
    assert table.exit_code == 0 and "(alerts): 3" in table.stdout, table.output


def test_alert_list_refuses_with_the_documented_exit_codes(server: EmbeddedServer) -> None:
    closed = f"http://127.0.0.1:{testing.free_port()}"
    for args, hint in (
        (["--state", "active"], "--state"),
        (["--level", "purple"], "--level"),
        (["--at", "昨天"], "--at"),
    ):
        r = runner.invoke(app, ["alert", "list", *args, "--api", closed])
        assert r.exit_code == 2 and hint in r.output, r.output
    # A district the service does not know: refused by it, exit code 1.
    unknown = _bureau("alert", "list", "--district", "999999", "--api", server.url)
    assert unknown.returncode == 1 and "422" in unknown.stderr, unknown.stderr
    # A district the officer may not read: the token does not allow it, 2.
    token = mint_token(DEV_JWT_SECRET, sub="officer.a", role="officer", districts=[DISTRICT])
    refused = _bureau(
        "alert", "list", "--district", "120111", "--token", token, "--api", server.url
    )
    assert refused.returncode == 2 and "403" in refused.stderr, refused.stderr
    assert "无权在西青区" in refused.stderr and "Traceback" not in refused.stderr
    down = _bureau("alert", "list", "--api", closed)
    assert down.returncode == 3 and "无法连接服务" in down.stderr, down.stderr
