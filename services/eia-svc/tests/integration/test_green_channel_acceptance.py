"""The green channel (绿色通道) and the bundled channel (多评合一) through the
API: a submitter's own claim (major project, park) asks no quota. An officer
accepts the filing (受理), confirming or declining the major-project claim,
and only that acceptance asks quota-svc for a hold."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from ..conftest import JIZHOU, admin, events_of, filer, filing, officer
from .test_filings_api import act, get, last_day

MAJOR = {"major_project": True, "major_kind": "industrial_layout"}


async def test_a_filers_major_claim_waits_for_an_officer_and_asks_no_quota(
    client: httpx.AsyncClient,
) -> None:
    app: FastAPI = client.app  # type: ignore[attr-defined]
    r = await client.post(
        "/eia/filings", json=filing(vocs_increment_t="2.666", **MAJOR), headers=filer("some-bot")
    )
    assert r.status_code == 201, r.text
    f = r.json()
    # Not accepted, no clock, no quota: the claim is only a request.
    assert f["status"] == "submitted" and f["accepted_at"] is None and f["due_at"] is None
    assert f["quota_status"] == "not_requested"
    assert f["channel"] == "normal" and f["green_channel"] == "requested"
    assert f["major_project"] is True and f["major_kind"] == "industrial_layout"
    assert f["allowed_actions"] == ["withdraw"]  # the filer's own
    assert await events_of(app, "eia.filing.accepted.v1") == []
    # The officer sees the claim and may accept it.
    seen = await get(client, f["id"])
    assert seen["allowed_actions"] == ["accept"] and seen["green_channel"] == "requested"
    # A filer cannot accept its own filing.
    r = await act(
        client, f["id"], "accept", json={"green_channel": True}, headers=filer("some-bot")
    )
    assert r.status_code == 403
    assert await events_of(app, "eia.filing.accepted.v1") == []


async def test_an_officers_acceptance_confirming_the_claim_starts_the_saga(
    client: httpx.AsyncClient,
) -> None:
    app: FastAPI = client.app  # type: ignore[attr-defined]
    f = (await client.post("/eia/filings", json=filing(**MAJOR), headers=filer())).json()
    # The officer must say whether the claim is confirmed: 422 naming the field.
    r = await act(client, f["id"], "accept")
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["green_channel"]
    assert (await get(client, f["id"]))["status"] == "submitted"
    assert await events_of(app, "eia.filing.accepted.v1") == []

    r = await act(client, f["id"], "accept", json={"green_channel": True})
    assert r.status_code == 200, r.text
    accepted = r.json()
    assert accepted["status"] == "accepted" and accepted["channel"] == "green"
    assert accepted["green_channel"] == "confirmed" and accepted["quota_status"] == "pending"
    assert accepted["due_on"] == last_day(accepted["accepted_at"], 10).isoformat()  # green: 10
    # Evaluation and review in parallel (评估与审查同步).
    assert accepted["allowed_actions"][:2] == ["evaluation-done", "review-done"]
    (req,) = await events_of(app, "eia.filing.accepted.v1")
    assert req["channel"] == "green" and req["filing_id"] == f["id"]


async def test_an_officer_may_accept_a_major_claim_under_the_normal_procedure(
    client: httpx.AsyncClient,
) -> None:
    app: FastAPI = client.app  # type: ignore[attr-defined]
    f = (await client.post("/eia/filings", json=filing(**MAJOR), headers=filer())).json()
    r = await act(client, f["id"], "accept", json={"green_channel": False})
    assert r.status_code == 200, r.text
    accepted = r.json()
    assert accepted["channel"] == "normal" and accepted["green_channel"] == "declined"
    assert accepted["major_project"] is True  # the applicant's claim, kept as filed
    assert accepted["due_on"] == last_day(accepted["accepted_at"], 30).isoformat()
    (req,) = await events_of(app, "eia.filing.accepted.v1")
    assert req["channel"] == "normal"
    # The normal order: review only after evaluation.
    r = await act(client, f["id"], "review-done")
    assert r.status_code == 409 and r.json()["allowed"][0] == "evaluation-done"
    assert "review-done" not in r.json()["allowed"]


async def test_green_channel_is_only_decided_for_a_major_claim(client: httpx.AsyncClient) -> None:
    app: FastAPI = client.app  # type: ignore[attr-defined]
    f = (await client.post("/eia/filings", json=filing(), headers=filer())).json()
    assert f["green_channel"] is None
    r = await act(client, f["id"], "accept", json={"green_channel": True})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "green_channel"
    assert await events_of(app, "eia.filing.accepted.v1") == []
    assert (await act(client, f["id"], "accept")).json()["channel"] == "normal"


async def test_an_officers_own_major_filing_is_accepted_as_a_step_too(
    client: httpx.AsyncClient,
) -> None:
    app: FastAPI = client.app  # type: ignore[attr-defined]
    f = (await client.post("/eia/filings", json=filing(**MAJOR), headers=officer())).json()
    assert f["status"] == "submitted" and f["allowed_actions"] == ["accept", "withdraw"]
    assert await events_of(app, "eia.filing.accepted.v1") == []


async def test_a_bundled_filing_asks_the_parks_quota_only_once_accepted(
    client: httpx.AsyncClient,
) -> None:
    app: FastAPI = client.app  # type: ignore[attr-defined]
    park = {
        "id": "JZ-IND-01",
        "name": "蓟州经济开发区",
        "district": JIZHOU,
        "covered_project_types": ["C3670"],
        "vocs_subpool_t": "12.5",
    }
    assert (await client.post("/eia/parks", json=park, headers=admin())).status_code == 201
    body = filing(park_id="JZ-IND-01", **MAJOR)  # bundled wins over the major claim
    f = (await client.post("/eia/filings", json=body, headers=filer())).json()
    assert f["channel"] == "bundled" and f["status"] == "submitted"
    assert f["quota_status"] == "not_requested" and f["green_channel"] is None
    assert await events_of(app, "eia.filing.accepted.v1") == []
    assert (await get(client, f["id"]))["allowed_actions"] == ["accept"]
    # No green channel to decide: the park's bundled report covers it.
    r = await act(client, f["id"], "accept", json={"green_channel": True})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "green_channel"
    r = await act(client, f["id"], "accept")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "accepted" and r.json()["due_on"] == (
        last_day(r.json()["accepted_at"], 10).isoformat()
    )
    (req,) = await events_of(app, "eia.filing.accepted.v1")
    assert req["park_id"] == "JZ-IND-01" and req["channel"] == "bundled"
