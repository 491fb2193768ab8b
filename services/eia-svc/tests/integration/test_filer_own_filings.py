"""A filer lists and reads its own filings by person, as every four-eyes
rule compares people (`svc_common.auth.same_person`): `Qiye.Filer` and
`qiye.filer`, or a name written with either name dot, are one filer. The
list compared the token's `sub` exactly, so the same filer signing in with
its identity provider's other spelling saw none of its filings."""

from __future__ import annotations

import httpx
from eia_svc.filings.models import FilingRow
from fastapi import FastAPI
from sqlalchemy import select
from svc_common.auth import person_key

from ..conftest import filer, filing

#: Two spellings `person_key` reads as one person, each pair.
SPELLINGS = (("Qiye.Filer", "qiye.filer"), ("阿卜杜拉\u30fb买买提", "阿卜杜拉\u00b7买买提"))


async def test_a_filer_lists_and_reads_its_filings_under_either_spelling(
    client: httpx.AsyncClient,
) -> None:
    made: dict[str, str] = {}
    for submitted, _ in SPELLINGS:
        r = await client.post("/eia/filings", json=filing(), headers=filer(submitted))
        assert r.status_code == 201, r.text
        made[submitted] = r.json()["id"]
    other = (await client.post("/eia/filings", json=filing(), headers=filer("filer.b"))).json()
    for submitted, signed_in in SPELLINGS:
        assert person_key(submitted) == person_key(signed_in) and submitted != signed_in
        listed = await client.get("/eia/filings", headers=filer(signed_in))
        assert listed.status_code == 200, listed.text
        assert [f["id"] for f in listed.json()["items"]] == [made[submitted]], signed_in
        one = await client.get(f"/eia/filings/{made[submitted]}", headers=filer(signed_in))
        assert one.status_code == 200 and one.json()["submitted_by"] == submitted
    # Another filer's stay another's.
    listed = await client.get("/eia/filings", headers=filer("Filer.B"))
    assert [f["id"] for f in listed.json()["items"]] == [other["id"]]
    # The submitter is stored as its token gave it (shown so), which the
    # comparison reads by person.
    app: FastAPI = client.app  # type: ignore[attr-defined]
    async with app.state.db.session() as s:
        stored = set((await s.scalars(select(FilingRow.submitted_by))).all())
    assert stored == {"Qiye.Filer", "阿卜杜拉\u30fb买买提", "filer.b"}
