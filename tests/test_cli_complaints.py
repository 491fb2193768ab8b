"""`bureau complaint list|show|clusters|accept|reject|assign|reply|close|reopen`
against a real `bureau run`: a 12369 complaint handled from receipt to
closing without hand-written HTTP requests, its times in Beijing time,
refusals with the documented exit codes."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

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
#: 静海区 and 宁河区; this module's server has no other complaints.
DISTRICT, OTHER = "120118", "120117"
BEIJING = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    base = tmp_path_factory.mktemp("cli-complaints")
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


def _headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(DEV_JWT_SECRET, sub='admin.t', role='admin')}"}


def _receive(server: EmbeddedServer, district: str, text: str, **more: Any) -> dict[str, Any]:
    """A complaint received through supervision-svc's API, an hour ago."""
    at = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    body = {
        "channel": "hotline",
        "received_at": at,
        "district": district,
        "address": "天津市静海区大邱庄镇",
        "category": "odor",
        "description": text,
        **more,
    }
    r = httpx.post(f"{server.url}/supervision/complaints", json=body, headers=_headers())
    assert r.status_code == 201, r.text
    complaint: dict[str, Any] = r.json()["complaint"]
    return complaint


def _stored(server: EmbeddedServer, complaint_id: str) -> dict[str, Any]:
    r = httpx.get(f"{server.url}/supervision/complaints/{complaint_id}", headers=_headers())
    assert r.status_code == 200, r.text
    answer: dict[str, Any] = r.json()
    return answer


def _complaint(*args: str) -> Any:
    r = runner.invoke(app, ["complaint", *args, "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _day(deadline: str) -> str:
    """The Beijing day a deadline (the first instant after it) is met on."""
    at = dt.datetime.fromisoformat(deadline).astimezone(BEIJING)
    return (at - dt.timedelta(microseconds=1)).date().isoformat()


def _text(args: list[str]) -> str:
    r = runner.invoke(app, ["complaint", *args])
    assert r.exit_code == 0, r.output
    return " ".join(r.stdout.split())


def test_a_complaint_is_listed_shown_and_handled_to_its_closing(server: EmbeddedServer) -> None:
    """No command for complaints: an officer wrote each step's HTTP request
    by hand and read the deadlines in UTC, a day late."""
    api = ["--api", server.url]
    c = _receive(server, DISTRICT, "化工厂夜间排放刺鼻气味，影响居民休息")
    listed = _complaint("list", "--district", DISTRICT, *api)
    assert [x["id"] for x in listed["items"]] == [c["id"]]
    table = _text(["list", "--district", DISTRICT, *api])
    assert c["id"] in table and c["case_no"] in table and "已接收（received）" in table
    assert f"受理 {_day(c['accept_due'])}" in table and "静海区" in table
    shown = _text(["show", c["id"], *api])
    assert re.search(rf"受理期限 accept by │ {_day(c['accept_due'])} ", shown), shown
    assert "状态 status │ 已接收（received）" in shown
    assert "受理（accept）、不予受理（reject）" in shown

    accepted = _complaint("accept", c["id"], *api)
    assert accepted["status"] == "accepted" and accepted["close_due"]
    # Run again (a lost answer): the first moved the complaint on, so the
    # second is refused in the service's words, never taken twice.
    again = _bureau("complaint", "accept", c["id"], *api, "--json")
    said = "".join(again.stderr.split())
    assert again.returncode == 1 and "不能执行受理（accept）" in said, again.stderr
    assert _stored(server, c["id"])["accepted_at"] == accepted["accepted_at"]
    shown = _text(["show", c["id"], *api])
    assert f"办结期限 close by │ {_day(accepted['close_due'])} " in shown, shown

    assigned = _text(["assign", c["id"], "--officer", "张伟", *api])
    assert "已交办（assigned）" in assigned and "承办人 assigned to │ 张伟" in assigned
    replied = _complaint("reply", c["id"], "--text", "已责令企业整改，夜间停产", *api)
    assert replied["status"] == "replied" and replied["reply"] == "已责令企业整改，夜间停产"
    closed = _text(["close", c["id"], "--outcome", "substantiated", "--note", "现场核实属实", *api])
    assert "已办结（closed）" in closed and "现场核实属实" in closed
    stored = _stored(server, c["id"])
    assert (stored["status"], stored["outcome"]) == ("closed", "substantiated")
    assert stored["assigned_to"] == "张伟" and stored["outcome_note"] == "现场核实属实"
    reopened = _complaint("reopen", c["id"], "--reason", "群众再次反映", *api)
    assert (reopened["status"], reopened["reopen_count"]) == ("assigned", 1)
    assert _stored(server, c["id"])["status"] == "assigned"
    mine = _complaint("list", "--district", DISTRICT, "--status", "assigned", *api)
    assert [x["id"] for x in mine["items"]] == [c["id"]]
    assert _complaint("list", "--district", DISTRICT, "--status", "closed", *api)["items"] == []
    # The same reply and closing in the same words after the reopen: taken
    # again (a key of the request alone replayed the first answers, the
    # complaint left open while the command printed it closed).
    _complaint("reply", c["id"], "--text", "已责令企业整改，夜间停产", *api)
    again = runner.invoke(
        app,
        [
            "complaint",
            "close",
            c["id"],
            "--outcome",
            "substantiated",
            "--note",
            "现场核实属实",
            *api,
        ],
    )
    assert again.exit_code == 0 and "相同的请求此前已发送" not in again.stderr, again.output
    assert _stored(server, c["id"])["status"] == "closed"


def test_complaints_of_several_districts_and_their_clusters(server: EmbeddedServer) -> None:
    """`--district` repeated: each district's complaints, each once; the
    problems reported twice ranked by attention."""
    api = ["--api", server.url]
    uscc = make_uscc(OTHER, 4343)
    first = _receive(server, OTHER, "涂装厂异味很重", uscc=uscc)
    second = _receive(server, OTHER, "涂装厂晚上气味刺鼻", uscc=uscc)
    here = _receive(server, DISTRICT, "养殖场臭味扰民")
    both = _complaint("list", "--district", OTHER, "--district", DISTRICT, *api)
    ids = [x["id"] for x in both["items"]]
    assert {first["id"], second["id"], here["id"]} <= set(ids) and len(ids) == len(set(ids))
    assert second["repeat"] and second["cluster_id"] == first["cluster_id"]
    clusters = _complaint("clusters", "--district", OTHER, *api)
    assert clusters[0]["id"] == first["cluster_id"] and clusters[0]["reports"] == 2
    table = _text(["clusters", "--district", OTHER, "--district", DISTRICT, *api])
    assert first["cluster_id"] in table and uscc in table and "2 (2)" in table


def test_complaint_commands_refuse_with_the_documented_exit_codes(
    server: EmbeddedServer,
) -> None:
    """A step the complaint's state does not allow is the service's refusal
    in its words (1); an option the API does not take a usage error (2)
    before any request; a service that cannot be reached 3."""
    c = _receive(server, DISTRICT, "工地夜间施工噪声")
    refused = _bureau(
        "complaint", "close", c["id"], "--outcome", "substantiated", "--api", server.url
    )
    assert refused.returncode == 1 and "409" in refused.stderr, refused.stderr
    said = " ".join(refused.stderr.split())
    assert "投诉当前为 已接收（received），不能执行 办结（close）" in said, said
    assert "Traceback" not in refused.stderr
    assert _stored(server, c["id"])["status"] == "received"
    missing = _bureau("complaint", "show", "no-such-complaint", "--api", server.url)
    assert missing.returncode == 1 and "没有投诉" in missing.stderr, missing.stderr
    closed = f"http://127.0.0.1:{testing.free_port()}"
    for args, hint in (
        (["list", "--status", "open"], "--status"),
        (["list", "--category", "smell"], "--category"),
        (["clusters", "--category", "smell"], "--category"),
        (["clusters", "--limit", "0"], "--limit"),
        (["close", c["id"], "--outcome", "done"], "--outcome"),
        (["assign", c["id"]], "--officer"),
    ):
        r = runner.invoke(app, ["complaint", *args, "--api", closed])
        assert r.exit_code == 2 and hint in r.output, r.output
    down = _bureau("complaint", "accept", c["id"], "--api", closed)
    assert down.returncode == 3 and "无法连接服务" in down.stderr, down.stderr
    assert _stored(server, c["id"])["status"] == "received"
