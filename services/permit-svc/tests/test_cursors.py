"""A cursor is exactly a `next_cursor` a list returned (docs/api-contract.md):
one made or edited by hand, however plausible, is a 422 naming `cursor`."""

from __future__ import annotations

import base64

from svc_common import testing

from .conftest import BAODI, Service

OFFICER = testing.auth("officer", [BAODI])


async def test_a_forged_cursor_is_refused_and_a_returned_one_pages(svc: Service) -> None:
    usccs = [await svc.enterprise(n) for n in (8301, 8302, 8303)]
    seen, cursor = [], None
    while True:
        page = await svc.http.get(
            "/permit/enterprises?limit=1" + (f"&cursor={cursor}" if cursor else ""),
            headers=OFFICER,
        )
        assert page.status_code == 200, page.text
        seen += [e["uscc"] for e in page.json()["items"]]
        if not (cursor := page.json()["next_cursor"]):
            break
    assert seen == sorted(usccs)
    first = (await svc.http.get("/permit/enterprises?limit=1", headers=OFFICER)).json()
    returned = first["next_cursor"]
    forged = base64.urlsafe_b64encode(b'"abc"').decode().rstrip("=")  # "ImFiYyI"
    edited = ("B" if returned[0] != "B" else "C") + returned[1:]
    for bad in (forged, edited, returned[:-1]):
        r = await svc.http.get(f"/permit/enterprises?limit=1&cursor={bad}", headers=OFFICER)
        assert r.status_code == 422, (bad, r.text)
        assert [e["field"] for e in r.json()["errors"]] == ["cursor"]


async def test_a_cursor_reads_only_on_the_path_that_returned_it(svc: Service) -> None:
    """A cursor of the enterprises list has the shape of one of the
    registrations list (a text key), yet it is no position there: a 422
    naming `cursor`. On its own list it still reads when a filter changes."""
    for n in (8311, 8312):
        await svc.enterprise(n)
    first = await svc.http.get("/permit/enterprises?limit=1", headers=OFFICER)
    cursor = first.json()["next_cursor"]
    assert cursor
    r = await svc.http.get(f"/permit/registrations?limit=1&cursor={cursor}", headers=OFFICER)
    assert r.status_code == 422, r.text
    assert [(e["field"], e["type"]) for e in r.json()["errors"]] == [("cursor", "cursor_invalid")]
    again = await svc.http.get(
        f"/permit/enterprises?limit=1&district={BAODI}&cursor={cursor}", headers=OFFICER
    )
    assert again.status_code == 200, again.text
