"""Receipts as documents: the filer's HTML and PDF with its token, public
verification by filing number and check code, revocation shown."""

from __future__ import annotations

import httpx
import pytest
from eia_svc.registrations import receipt

from ..conftest import BAODI, JIZHOU, filer, officer, registration


async def _file(client: httpx.AsyncClient, **over: str) -> dict[str, object]:
    r = await client.post("/eia/registrations", json=registration(**over), headers=filer())
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_receipt_is_a_document_with_authority_facts_basis_and_verification(
    client: httpx.AsyncClient,
) -> None:
    body = await _file(client, vocs_increment_t="0.08")
    rec = body["receipt"]
    assert isinstance(rec, dict)
    assert rec["title"] == "建设项目环境影响登记表备案回执"
    assert rec["authority"] == "天津市蓟州区生态环境局"
    assert rec["status_text"] == "已备案" and rec["vocs_increment_t"] == "0.080"
    assert any("环境影响评价法" in b for b in rec["legal_basis"])
    code = body["check_code"]
    assert isinstance(code, str) and len(code) == receipt.CODE_LENGTH
    assert body["verify_url"] == rec["verify_url"]
    assert f"no={body['filing_no']}" in str(body["verify_url"]) and code in str(body["verify_url"])

    page = await client.get(str(body["receipt_url"]), headers=filer())
    assert page.status_code == 200
    for text in ("天津市蓟州区生态环境局", "0.080 吨/年", "已备案", "第二十二条", code, "<svg"):
        assert text in page.text, text

    pdf = await client.get(str(body["receipt_pdf_url"]), headers=filer())
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and b"STSong-Light" in pdf.content

    # Another filer's token, or none, does not reach the receipt by its id.
    assert (await client.get(str(body["receipt_url"]), headers=filer("other"))).status_code == 404
    assert (await client.get(str(body["receipt_url"]))).status_code == 401


async def test_anyone_verifies_with_number_and_code_and_sees_a_revocation(
    client: httpx.AsyncClient,
) -> None:
    body = await _file(client)
    no, code = str(body["filing_no"]), str(body["check_code"])
    ok = await client.get(f"/eia/public/receipts/{no}", params={"code": code.lower()})
    assert ok.status_code == 200, ok.text
    v = ok.json()
    assert v["authentic"] is True and v["status_text"] == "已备案" and v["revoked_at_local"] is None
    doc = await client.get(v["receipt_url"])
    assert doc.status_code == 200 and no in doc.text
    pdf = await client.get(v["receipt_pdf_url"])
    assert pdf.headers["content-type"] == "application/pdf"

    wrong = await client.get(f"/eia/public/receipts/{no}", params={"code": "AAAAAAAAAA"})
    unknown = await client.get(
        f"/eia/public/receipts/DJB-{BAODI}-2026-999999", params={"code": code}
    )
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.json()["detail"] == unknown.json()["detail"]
    bad = await client.get("/eia/public/receipts/not-a-number", params={"code": code})
    assert bad.status_code == 422

    revoked = await client.post(
        f"/eia/registrations/{body['filing_id']}/revoke",
        json={"reason": "抽查发现建设地点不实"},
        headers=officer(JIZHOU),
    )
    assert revoked.status_code == 200, revoked.text
    v = (await client.get(f"/eia/public/receipts/{no}", params={"code": code})).json()
    assert v["status"] == "revoked" and v["status_text"] == "已撤销"
    assert v["revoke_reason"] == "抽查发现建设地点不实" and v["revoked_at_local"]
    doc = await client.get(v["receipt_url"])
    assert "本备案已于" in doc.text and "抽查发现建设地点不实" in doc.text


async def test_not_found_speaks_chinese_by_default(client: httpx.AsyncClient) -> None:
    r = await client.get(
        f"/eia/public/receipts/DJB-{JIZHOU}-2026-000001",
        params={"code": "ABCDEFGHIJ"},
        headers={"Accept-Language": "zh-CN"},
    )
    assert r.status_code == 404
    assert r.json()["detail"] == "没有与该备案号和校验码相符的备案回执"
    assert r.json()["title"] == "未找到" and r.json()["type"].endswith(":not-found")


@pytest.mark.parametrize("given", ["abcde-fghij", " ABCDEFGHIJ "])
def test_check_code_ignores_case_spaces_and_dashes(given: str) -> None:
    secret = "s" * 32
    no = "DJB-120119-2026-000001"
    code = receipt.check_code(secret, no)
    assert receipt.code_matches(secret, no, code.lower())
    assert receipt.code_matches(secret, no, f"{code[:5]}-{code[5:]}")
    assert not receipt.code_matches(secret, no, given)
    assert receipt.check_code("t" * 32, no) != code
