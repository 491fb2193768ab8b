"""The operator's commands against a running embedded default, as an
operator uses them: a poison event is dead-lettered, listed, shown, re-driven
(still failing), discarded; the outbox and the stuck-saga list are read."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from svc_common import testing
from svc_common.events.schemas.permit import PermitCancelled
from svc_common.outbox import build_envelope

BUREAU = [sys.executable, "-m", "bureau"]


def _bureau(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BUREAU, *args, "--url", url],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.mark.slow(seconds=20)
def test_dead_letters_outbox_and_sagas_from_the_command_line(tmp_path: Path) -> None:
    port = testing.free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [*BUREAU, "run", "--port", str(port), "--data-dir", str(tmp_path)],
        stdout=(tmp_path / "run.log").open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "OUTBOX_SWEEP_SECONDS": "0.3"},
    )
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (tmp_path / "run.log").read_text()
            time.sleep(0.1)
        # A malformed event lands in permit-svc's outbox (a district that does
        # not exist): quota-svc cannot apply it, whatever it tries.
        bad = PermitCancelled(
            permit_id="P-X",
            permit_no="91120000MA00000000X001V",
            uscc="91120000MA00000000",
            enterprise_name="某化工厂",
            district="999999",
            reason="closure",
            pollutants_freed=[],
            vocs_freed_t="1",
        )
        env = build_envelope(bad)
        with sqlite3.connect(tmp_path / "permit.db") as db:
            db.execute(
                "INSERT INTO outbox (event_id, topic, key, event_type, envelope, created_at, "
                "attempts) VALUES (?, ?, ?, ?, ?, datetime('now'), 0)",
                (env.id, bad.topic, env.partitionkey, env.type, env.model_dump_json()),
            )
        admin = testing.auth("admin")
        for _ in range(100):  # wait (cheaply) for quota-svc to give up on it
            r = httpx.get(f"{url}/quota/admin/dead-letters", headers=admin, timeout=5)
            if r.json()["items"]:
                break
            time.sleep(0.2)
        out = _bureau("dlq", "list", "--service", "quota", "--json", url=url)
        assert out.returncode == 0, out.stderr
        (dead,) = json.loads(out.stdout)["items"]
        assert dead["event_type"] == "permit.cancelled.v1" and "999999" in dead["error"]
        shown = _bureau("dlq", "show", str(dead["id"]), "--service", "quota", url=url)
        assert shown.returncode == 0 and "999999" in shown.stdout

        again = _bureau("dlq", "redrive", str(dead["id"]), "--service", "quota", url=url)
        assert again.returncode == 1 and "dead" in again.stdout  # still failing: kept
        gone = _bureau(
            "dlq", "discard", str(dead["id"]), "--service", "quota", "--reason", "测试数据", url=url
        )
        assert gone.returncode == 0 and "discarded" in gone.stdout
        empty = _bureau("dlq", "list", "--service", "quota", url=url)
        assert empty.returncode == 0 and "none" in empty.stdout

        status = _bureau("outbox", "status", "--json", url=url)
        assert status.returncode == 0
        assert {s: v["unsent"] for s, v in json.loads(status.stdout).items()} == {
            "permit": 0,
            "quota": 0,
            "eia": 0,
            "supervision": 0,
        }
        stuck = _bureau("sagas", "stuck", "--older-than", "PT5M", url=url)
        assert stuck.returncode == 0 and "none" in stuck.stdout
        orphans = _bureau("sagas", "orphans", url=url)
        assert orphans.returncode == 0 and "none" in orphans.stdout, orphans.stderr
        # A hold for a filing eia-svc never had (what an event that was not
        # eia-svc's leaves): both services are read, and it is listed.
        with sqlite3.connect(tmp_path / "quota.db") as db:
            db.execute(
                "INSERT INTO reservations (id, idempotency_id, project_ref, attempt, district, "
                "pollutant, pool_id, increment_kg, offset_ratio_hundredths, held_kg, "
                "allocated_kg, released_kg, status, created_by, created_at, expires_at) VALUES "
                "('R-ORPHAN', 'k-orphan', 'eia:EIA-NEVER-FILED', 1, '120115', 'VOCs', "
                "'120115:VOCs', 1000, 200, 2000, 0, 0, 'held', 'forged', "
                "'2026-12-03 10:00:00.000000', '2099-12-10 10:00:00.000000')"
            )
        orphans = _bureau("sagas", "orphans", "--json", url=url)
        assert orphans.returncode == 1, orphans.stderr
        (orphan,) = json.loads(orphans.stdout)
        assert (orphan["id"], orphan["filing_id"]) == ("R-ORPHAN", "EIA-NEVER-FILED")
        assert "eia-svc 无此环评文件" in orphan["why"][0]
        bad_token = subprocess.run(
            [*BUREAU, "dlq", "list", "--url", url, "--token", "nonsense"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        # A token the service does not accept is a usage error (exit 2), not "stuck".
        assert bad_token.returncode == 2 and "401" in bad_token.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_outbox_status_names_a_service_it_cannot_reach() -> None:
    """Against a closed port `outbox status` printed an empty table and exited
    0: an operator read "nothing unsent" from services that were down."""
    closed = f"http://127.0.0.1:{testing.free_port()}"
    out = _bureau("outbox", "status", url=closed)
    # 3, as every command says a service it cannot reach (2 is a usage error).
    assert out.returncode == 3, out.stdout + out.stderr
    assert out.stdout.count("cannot reach") == 4 and "supervision" in out.stdout
    # --api, as every other command names the address, is the same option.
    also = subprocess.run(
        [*BUREAU, "dlq", "list", "--service", "supervision", "--api", closed],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert also.returncode == 3 and "cannot reach" in also.stderr, also.stdout + also.stderr
    as_json = _bureau("outbox", "status", "--json", url=closed)
    assert as_json.returncode == 3 and json.loads(as_json.stdout) == {}
    assert "supervision: cannot reach" in " ".join(as_json.stderr.split())


def test_stuck_sagas_say_where_each_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """`bureau sagas stuck` listed pending filings with no reason: an operator
    had to guess which service held each one. Now each names its dead letter
    (quota-svc keys a filing's request by the filing id), its event that
    cannot be published (quota-svc's answers are keyed by the project's
    ref), a consumer paused on a failing dependency, a service that could
    not be asked, or that nothing was found."""
    from typer.testing import CliRunner

    from bureau.cli import app

    def filing(fid: str) -> dict[str, Any]:
        return {
            "id": fid,
            "project_ref": f"eia:{fid}",
            "district": "120119",
            "status": "accepted",
            "quota_attempt": 1,
            "quota_asked_at": "2026-12-03T10:00:00+00:00",
            "quota_asks": 1,
        }

    answers: dict[str, Any] = {
        "http://eia/eia/filings": {"items": [filing("F1"), filing("F2"), filing("F3")]},
        # Two pages: the filing's dead letter is not among the newest.
        "http://quota/quota/admin/dead-letters": {
            "items": [
                {"id": 8, "key": "other", "event_type": "eia.filing.accepted.v1", "error": "E2"}
            ],
            "next_cursor": "c2",
        },
        "http://quota/quota/admin/dead-letters?cursor=c2": {
            "items": [{"id": 7, "key": "F1", "event_type": "eia.filing.accepted.v1", "error": "E1"}]
        },
        "http://quota/quota/admin/outbox": {
            "failing": [
                {
                    "seq": 42,
                    "key": "eia:F2",
                    "event_type": "quota.reserved.v1",
                    "attempts": 5,
                    "last_error": "KafkaTimeoutError",
                }
            ]
        },
        "http://eia/eia/admin/dead-letters": {"items": []},
        "http://eia/eia/admin/outbox": {"failing": []},
        "http://quota/quota/ready": {"retrying": {}, "transport": False},
        "http://eia/eia/ready": {"retrying": {"eia-svc:quota.events[2]": "connection reset"}},
    }

    def answer(method: str, url: str, **kw: Any) -> httpx.Response:
        path = url.split("?", 1)[0]
        if cursor := (kw.get("params") or {}).get("cursor"):
            path += f"?cursor={cursor}"
        return httpx.Response(200, json=answers[path], request=httpx.Request(method, url))

    monkeypatch.setattr(httpx, "request", answer)
    monkeypatch.setattr(httpx, "get", lambda url, **kw: answer("GET", url, **kw))
    args = ["sagas", "stuck", "--json", "--service-url", "eia=http://eia"]
    r = CliRunner().invoke(app, [*args, "--service-url", "quota=http://quota"])
    assert r.exit_code == 1, r.output  # stuck filings listed: 1, as the table's
    why = {f["id"]: f["why"] for f in json.loads(r.output)}
    paused = "eia-svc 消费暂停重试 (paused, retrying) eia-svc:quota.events[2]: connection reset"
    assert why["F1"][0].startswith("quota-svc 死信 #7 (eia.filing.accepted.v1): E1")
    assert "bureau dlq show 7 --service quota" in why["F1"][0]
    assert why["F2"][0].startswith("quota-svc 发件箱未能发出 #42 (quota.reserved.v1, 5 次)")
    broker = "quota-svc 未连上 Kafka (cannot reach the broker)"
    assert why["F1"][1:] == why["F2"][1:] == why["F3"] == [paused, broker]
    assert "E2" not in " ".join(why["F1"] + why["F2"] + why["F3"])

    # quota-svc not answering is said, not taken for "nothing found".
    answers["http://eia/eia/ready"] = {"retrying": {}}
    answers["http://quota/quota/ready"] = {"retrying": {}, "transport": True}
    del answers["http://quota/quota/admin/dead-letters"]

    def refusing(method: str, url: str, **kw: Any) -> httpx.Response:
        if url.startswith("http://quota/quota/admin"):
            return httpx.Response(
                503,
                json={"title": "服务暂不可用", "detail": "本次请求所需的服务暂不可用"},
                request=httpx.Request(method, url),
            )
        return answer(method, url, **kw)

    monkeypatch.setattr(httpx, "request", refusing)
    monkeypatch.setattr(httpx, "get", lambda url, **kw: refusing("GET", url, **kw))
    r = CliRunner().invoke(app, [*args, "--service-url", "quota=http://quota"])
    assert r.exit_code == 1, r.output
    (first, *_) = json.loads(r.output)
    assert first["why"] == [
        "quota-svc 无法查询 (could not be asked): 503 服务暂不可用: 本次请求所需的服务暂不可用"
    ]

    # The table: how long each has waited, from its first ask, in Beijing time
    # (re-asked since: its last ask is later).
    answers["http://eia/eia/filings"]["items"][0] |= {
        "quota_first_asked_at": "2026-12-03T09:00:00+00:00",
        "quota_asks": 3,
    }
    table = CliRunner().invoke(
        app,
        [
            "sagas",
            "stuck",
            "--service-url",
            "eia=http://eia",
            "--service-url",
            "quota=http://quota",
        ],
        env={"COLUMNS": "300"},
    )
    assert table.exit_code == 1, table.output
    lines = [line for line in table.output.splitlines() if "F1" in line or "F2" in line]
    assert "2026-12-03 17:00" in lines[0] and "2026-12-03 18:00" in lines[1], table.output
    assert "北京时间" in table.output and "T10:00" not in table.output


def test_dead_letters_listed_say_when_more_are_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    """`bureau dlq list` showed the newest 100 and nothing else: after a bad
    deployment an operator read "100" where thousands waited."""
    from typer.testing import CliRunner

    from bureau.cli import app

    asked: list[str] = []

    def answer(method: str, url: str, **_: Any) -> httpx.Response:
        asked.append(url)
        item = {
            "id": 3,
            "consumer_group": "quota-svc",
            "event_type": "eia.filing.accepted.v1",
            "key": "F1",
            "attempts": 3,
            "created_at": "2026-12-03T10:00:00+00:00",
            "error": "E",
        }
        return httpx.Response(
            200, json={"items": [item], "next_cursor": "c2"}, request=httpx.Request(method, url)
        )

    monkeypatch.setattr(httpx, "request", answer)
    r = CliRunner().invoke(app, ["dlq", "list", "--api", "http://q", "--limit", "1"])
    assert r.exit_code == 0, r.output
    assert asked == ["http://q/quota/admin/dead-letters?status=dead&limit=1"]
    assert "还有更多死信未列出" in r.output


def test_dead_letters_of_unreadable_bytes_are_listed_readably(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A dead letter whose type was not UTF-8 was listed as `���` (what a
    service stored before types were kept escaped, or sends still)."""
    from typer.testing import CliRunner

    from bureau.cli import app

    def answer(method: str, url: str, **_: Any) -> httpx.Response:
        item = {
            "id": 3,
            "consumer_group": "quota-svc",
            "event_type": "eia.filing.\ufffd\ufffd",
            "key": "F\x001",
            "attempts": 3,
            "created_at": "2026-12-03T10:00:00+00:00",
            "error": "E",
        }
        return httpx.Response(200, json={"items": [item]}, request=httpx.Request(method, url))

    monkeypatch.setattr(httpx, "request", answer)
    monkeypatch.setenv("COLUMNS", "250")
    r = CliRunner().invoke(app, ["dlq", "list", "--api", "http://q"])
    assert r.exit_code == 0, r.output
    assert "\ufffd" not in r.output
    assert "（无法解码） eia.filing.\\ufffd\\ufffd" in r.output
    assert "（无法解码） F\\x001" in r.output


def test_stuck_sagas_list_approved_filings_whose_quota_lapsed_short(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An approved filing whose hold lapsed before the allocation, in a
    district short of quota, waits for no service: the list of pending
    requests never showed it, so nobody saw it was stuck. It is listed now,
    whatever its age, with the shortfall and how to re-drive it."""
    from typer.testing import CliRunner

    from bureau.cli import app

    short = {
        "id": "F9",
        "project_ref": "eia:F9",
        "district": "120119",
        "status": "approved",
        "quota_status": "lapsed_short",
        "quota_attempt": 2,
        "quota_shortfall_t": "5.000",
        "quota_asked_at": "2026-12-03T10:00:00+00:00",
        "quota_asks": 0,
        "quota_note": "已批准，但总量预留在分配前已过期，该区总量指标不足（缺口 5.000 吨）",
    }
    asked: list[str] = []

    def answer(method: str, url: str, **kw: Any) -> httpx.Response:
        asked.append(url)
        items = [short] if "quota_status=lapsed_short" in url else []
        return httpx.Response(
            200, json={"items": items, "next_cursor": None}, request=httpx.Request(method, url)
        )

    def no_service(url: str, **kw: Any) -> httpx.Response:
        raise AssertionError(f"a lapsed-short filing waits on no service: {url}")

    monkeypatch.setattr(httpx, "request", answer)
    monkeypatch.setattr(httpx, "get", no_service)
    args = ["sagas", "stuck", "--service-url", "eia=http://eia", "--service-url", "quota=http://q"]
    r = CliRunner().invoke(app, [*args, "--json"])
    assert r.exit_code == 1, r.output
    (listed,) = json.loads(r.output)
    assert listed["id"] == "F9"
    assert listed["why"][0] == short["quota_note"]
    assert (
        "quota-retry" in listed["why"][1] and "POST /eia/filings/F9/quota-retry" in listed["why"][1]
    )
    table = CliRunner().invoke(app, args, env={"COLUMNS": "250"})
    assert table.exit_code == 1 and "lapsed_short" in table.output and "F9" in table.output


def test_the_sagas_commands_say_a_filings_states_as_eia_svc_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`sagas stuck` showed a filing's state and quota state as codes
    (approved, lapsed_short), `sagas orphans` in words of its own (已驳回
    for a filing eia-svc and the console call 不予批准) or as a code in a
    Chinese sentence: both now say them as eia-svc's messages do (its
    labels, `named_zh`): the Chinese name, then the code."""
    from typer.testing import CliRunner

    from bureau.cli import app
    from bureau.orphans import why_orphaned

    rejected = why_orphaned({"status": "rejected", "quota_status": "secured"})
    assert rejected is not None and "环评文件不予批准（rejected）" in rejected, rejected
    allocated = why_orphaned({"status": "approved", "quota_status": "allocated"})
    assert allocated is not None and "总量状态为已分配（allocated）" in allocated, allocated
    short = {
        "id": "F9",
        "district": "120119",
        "status": "approved",
        "quota_status": "lapsed_short",
        "quota_attempt": 2,
        "quota_asked_at": "2026-12-03T10:00:00+00:00",
        "quota_note": "已批准，但总量预留在分配前已过期",
    }

    def answer(method: str, url: str, **kw: Any) -> httpx.Response:
        items = [short] if "quota_status=lapsed_short" in url else []
        return httpx.Response(
            200, json={"items": items, "next_cursor": None}, request=httpx.Request(method, url)
        )

    monkeypatch.setattr(httpx, "request", answer)
    args = ["sagas", "stuck", "--service-url", "eia=http://eia"]
    table = CliRunner().invoke(app, args, env={"COLUMNS": "250"})
    said = " ".join(table.output.split())
    assert table.exit_code == 1, table.output
    assert "已批准（approved）" in said and "批准后预留过期且总量不足（lapsed_short）" in said


def test_stuck_sagas_with_a_district_token_say_they_looked_at_its_districts_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An officer's token lists its districts' filings only: "none" read as
    "nothing stuck anywhere"."""
    from svc_common.settings import DEV_JWT_SECRET
    from svc_common.tokens import mint_token
    from typer.testing import CliRunner

    from bureau.cli import app

    def answer(method: str, url: str, **kw: Any) -> httpx.Response:
        return httpx.Response(
            200, json={"items": [], "next_cursor": None}, request=httpx.Request(method, url)
        )

    monkeypatch.setattr(httpx, "request", answer)
    args = ["sagas", "stuck", "--service-url", "eia=http://eia"]
    officer = mint_token(DEV_JWT_SECRET, sub="li.hua", role="officer", districts=["120119"])
    r = CliRunner().invoke(app, [*args, "--token", officer], env={"COLUMNS": "250"})
    assert r.exit_code == 0, r.output
    assert "只检查了令牌所辖的区：蓟州区（120119）" in r.output and "none" in r.output
    citywide = mint_token(DEV_JWT_SECRET, sub="a", role="admin")
    r = CliRunner().invoke(app, [*args, "--token", citywide], env={"COLUMNS": "250"})
    assert r.exit_code == 0 and "只检查了" not in r.output, r.output


def test_each_service_is_looked_for_where_its_url_says() -> None:
    """In distributed mode each service has its own address (QUOTA_URL…,
    as `make run-kafka` prints them); the operator's commands read only
    --url, and reported every service at :8000."""
    closed, elsewhere = (f"http://127.0.0.1:{testing.free_port()}" for _ in range(2))
    out = subprocess.run(
        [*BUREAU, "outbox", "status", "--url", closed],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200", "QUOTA_URL": elsewhere},
    )
    said = " ".join(out.stdout.split())
    assert out.returncode == 3, out.stdout + out.stderr
    assert said.count(elsewhere) == 1 and said.count(closed) == 3, said
    # A --service-url still wins over the environment.
    dlq = subprocess.run(
        [
            *BUREAU,
            "dlq",
            "list",
            "-s",
            "quota",
            "--url",
            closed,
            "--service-url",
            f"quota={closed}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200", "QUOTA_URL": elsewhere},
    )
    assert closed in " ".join(dlq.stderr.split()) and elsewhere not in dlq.stderr


def test_parked_filings_are_listed_and_re_driven(monkeypatch: pytest.MonkeyPatch) -> None:
    """An approved filing permit-svc could not draft (its industry not in
    the classification table) was a line in the log only; `bureau sagas
    parked` lists it with the reason and how to re-drive it, and
    `redrive-parked` says why permit-svc still refuses."""
    from typer.testing import CliRunner

    from bureau.cli import app

    item = {
        "filing_id": "EIA-2026-0001",
        "district": "120115",
        "uscc": "91120115000000001J",
        "industry_code": "C2631",
        "received_at": "2026-12-03T10:00:00+00:00",
        "reason": "industry_unclassified",
        "reason_text": "行业代码 C2631 不在分类管理名录中",
        "state": "waiting",
        "permit_id": None,
    }
    asked: list[str] = []

    def answer(method: str, url: str, **kw: Any) -> httpx.Response:
        asked.append(f"{method} {url}")
        request = httpx.Request(method, url)
        if method == "POST" and "EIA-2026-0001" in url:
            problem = {"title": "冲突", "detail": "行业代码 C2631 不在分类管理名录中"}
            return httpx.Response(409, json=problem, request=request)
        if method == "POST":
            done = {**item, "filing_id": "EIA-2026-0002", "state": "drafted", "permit_id": "P-9"}
            return httpx.Response(200, json=done, request=request)
        return httpx.Response(200, json={"items": [item], "next_cursor": None}, request=request)

    monkeypatch.setattr(httpx, "request", answer)
    args = ["sagas", "parked", "--service-url", "permit=http://permit"]
    r = CliRunner().invoke(app, [*args, "--json"])
    assert r.exit_code == 1, r.output
    (listed,) = json.loads(r.output)
    assert listed["why"][0] == item["reason_text"]
    assert "bureau sagas redrive-parked EIA-2026-0001" in listed["why"][1]
    assert asked == ["GET http://permit/permit/parked-filings?state=waiting&limit=1000"]
    table = CliRunner().invoke(app, args, env={"COLUMNS": "250"})
    assert table.exit_code == 1 and "C2631" in table.output and "2026-12-03 18:00" in table.output
    # One refused does not stop the next: each is tried, the refusal said,
    # and the exit code is the refusal's.
    ids = ["EIA-2026-0001", "EIA-2026-0002"]
    r = CliRunner().invoke(
        app, ["sagas", "redrive-parked", *ids, "--service-url", "permit=http://permit"]
    )
    assert r.exit_code == 1 and "不在分类管理名录中" in r.output, r.output
    assert "EIA-2026-0002: drafted P-9" in r.output, r.output
    assert asked[-2:] == [f"POST http://permit/permit/parked-filings/{i}/redrive" for i in ids]


def test_quota_held_for_filings_no_one_waits_on_is_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    """quota-svc's held reservations read against eia-svc's filings: a hold
    for a filing eia-svc has not (404) or cannot have (422), one closed, or
    one eia-svc says holds nothing is listed with why and how to release
    it; a hold its filing still waits on, and one made by hand, are not."""
    from typer.testing import CliRunner

    from bureau.cli import app
    from bureau.orphans import why_orphaned

    just_now = dt.datetime.now(dt.UTC).isoformat()

    def hold(rid: str, ref: str, made: str = "2026-12-03T10:00:00+00:00") -> dict[str, Any]:
        return {
            "id": rid,
            "project_ref": ref,
            "district": "120115",
            "status": "held",
            "required_t": "1.200",
            "created_at": made,
            "expires_at": "2026-12-10T10:00:00+00:00",
        }

    held = [
        hold("R1", "eia:EIA-GONE"),
        hold("R2", "eia:EIA-WITHDRAWN"),
        hold("R3", "eia:EIA-WAITING"),
        hold("R4", "investment-desk-7"),
        hold("R5", "eia:EIA-ALLOCATED"),
        hold("R6", "eia:../x"),
        hold("R7", "eia:EIA-JUST-MADE", made=just_now),  # its answer may be on its way
        hold("R8", "eia:EIA-JUST-REJECTED"),  # its release may be on its way
        hold("R9", "eia:EIA-RELEASED-MEANWHILE"),  # released after the list was read
    ]
    filings = {
        "EIA-WITHDRAWN": {"status": "withdrawn", "quota_status": "released"},
        "EIA-WAITING": {"status": "accepted", "quota_status": "secured"},
        "EIA-ALLOCATED": {"status": "approved", "quota_status": "allocated"},
        "EIA-JUST-REJECTED": {
            "status": "rejected",
            "quota_status": "secured",
            "decided_at": just_now,
        },
        "EIA-RELEASED-MEANWHILE": {"status": "withdrawn", "quota_status": "released"},
    }
    asked: list[str] = []

    def answer(method: str, url: str, **kw: Any) -> httpx.Response:
        asked.append(url)
        request = httpx.Request(method, url)
        if "/quota/reservations/" in url:  # one hold, read again
            (again,) = [h for h in held if url.endswith("/" + h["id"])]
            status = "released" if again["id"] == "R9" else "held"
            return httpx.Response(200, json={**again, "status": status}, request=request)
        if "/quota/reservations" in url:
            if "cursor=" not in url:  # two pages: the second after the first's cursor
                page = {"items": held[:3], "next_cursor": "c2"}
            else:
                page = {"items": held[3:], "next_cursor": None}
            return httpx.Response(200, json=page, request=request)
        filing_id = url.rsplit("/", 1)[1]
        if filing_id == "..%2Fx":
            return httpx.Response(422, json={"title": "请求内容无效"}, request=request)
        if filing_id not in filings:
            return httpx.Response(404, json={"title": "未找到"}, request=request)
        return httpx.Response(200, json={"id": filing_id, **filings[filing_id]}, request=request)

    monkeypatch.setattr(httpx, "request", answer)
    args = ["sagas", "orphans", "--service-url", "quota=http://quota", "--url", "http://eia"]
    r = CliRunner().invoke(app, [*args, "--json"])
    assert r.exit_code == 1, r.output
    listed = {i["id"]: i for i in json.loads(r.output)}
    assert sorted(listed) == ["R1", "R2", "R5", "R6"]
    assert listed["R1"]["why"][0] == why_orphaned(None)
    assert "withdrawn" in listed["R2"]["why"][0] and "allocated" in listed["R5"]["why"][0]
    assert "POST /quota/reservations/R2/release" in listed["R2"]["why"][1]
    assert "http://quota/quota/reservations?status=held&limit=1000&cursor=c2" in asked
    assert "http://eia/eia/filings/..%2Fx" in asked
    assert not any("investment-desk-7" in u or "EIA-JUST-MADE" in u for u in asked)
    table = CliRunner().invoke(app, args, env={"COLUMNS": "250"})
    assert table.exit_code == 1 and "EIA-GONE" in table.output, table.output
    assert "2026-12-03 18:00" in table.output
    waiting = {"status": "accepted", "quota_status": "pending"}
    filings["EIA-GONE"] = filings["EIA-WITHDRAWN"] = waiting
    filings["EIA-ALLOCATED"] = {"status": "accepted", "quota_status": "secured"}
    del held[5]  # R6
    clean = CliRunner().invoke(app, args, env={"COLUMNS": "250"})
    assert clean.exit_code == 0 and "none" in clean.output, clean.output
