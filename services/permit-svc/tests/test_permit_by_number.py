"""Finding a permit by its certificate's number (许可证编号), and a number
that is not one refused at the field, saying why."""

from __future__ import annotations

from svc_common import testing
from svc_common.uscc import make_uscc

from .conftest import BAODI, JIZHOU, Service

OFFICER = testing.auth("officer", [BAODI])
OTHER = testing.auth("officer", [JIZHOU])
ZH = {**OFFICER, "Accept-Language": "zh-CN"}


async def _issued(svc: Service, serial: int) -> dict:
    uscc = await svc.enterprise(serial)
    r = await svc.http.post(
        "/permit/permits",
        json={"uscc": uscc, "pollutants": [{"pollutant": "NOx", "amount_t": "1.5"}]},
        headers=OFFICER,
    )
    assert r.status_code == 201, r.text
    r = await svc.http.post(f"/permit/permits/{r.json()['id']}/issue", headers=OFFICER)
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_certificate_number_finds_its_permit_only(svc: Service) -> None:
    first, second = await _issued(svc, 7101), await _issued(svc, 7102)
    r = await svc.http.get(
        "/permit/permits", params={"permit_no": second["permit_no"]}, headers=OFFICER
    )
    assert r.status_code == 200, r.text
    assert [p["id"] for p in r.json()["items"]] == [second["id"]]
    assert first["permit_no"] != second["permit_no"]
    # Another district's officer learns nothing of it.
    r = await svc.http.get(
        "/permit/permits", params={"permit_no": second["permit_no"]}, headers=OTHER
    )
    assert r.status_code == 200 and r.json()["items"] == []
    # A well-formed number no permit has: an empty page, not a 404.
    unused = make_uscc(BAODI, 7103) + "999P"
    r = await svc.http.get("/permit/permits", params={"permit_no": unused}, headers=OFFICER)
    assert r.status_code == 200 and r.json()["items"] == []


async def test_a_number_that_is_not_one_is_refused_at_the_field(svc: Service) -> None:
    code = make_uscc(BAODI, 7104)
    wrong_check = code[:17] + ("0" if code[17] != "0" else "1")
    cases = {
        code + "01P": ("22 个字符", "must be 22 characters"),
        wrong_check + "001P": ("统一社会信用代码", "enterprise's code"),
        code + "0A1P": ("必须是数字", "must be digits"),
        code + "001W": ("排污登记编号", "registration's number"),
        code + "001X": ("必须以 P 结尾", "must end in P"),
    }
    for number, (zh, en) in cases.items():
        r = await svc.http.get("/permit/permits", params={"permit_no": number}, headers=ZH)
        assert r.status_code == 422, (number, r.text)
        (error,) = r.json()["errors"]
        assert error["field"].endswith("permit_no") and zh in error["message"], (number, error)
        r = await svc.http.get(
            "/permit/permits",
            params={"permit_no": number},
            headers={**OFFICER, "accept-language": "en"},
        )
        assert en in r.json()["errors"][0]["message"], (number, r.text)
