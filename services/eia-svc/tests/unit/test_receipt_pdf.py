"""The receipt's PDF at the longest the API takes: a revocation's reason of
up to 2,000 characters and names of 200 went below the page (y = −157 mm)
with one page only; the notice, the legal basis, the QR code and the check
code were cut off and the footer drawn over the table. Checked by what is
drawn where (a canvas that records its calls), not by reading the PDF."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from eia_svc.registrations import receipt
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas

MM = 72 / 25.4
WIDTH, HEIGHT = A4
SECRET = "s" * 32


class Recording(canvas.Canvas):
    """A canvas that records each string and box it draws, by page."""

    made: ClassVar[list[Recording]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.drawn: list[dict[str, Any]] = []
        self.pages = 1
        Recording.made.append(self)

    def _text(self, x0: float, y: float, text: str) -> None:
        w = stringWidth(text, self._fontname, self._fontsize)
        self.drawn.append(
            {"page": self.pages, "x0": x0, "x1": x0 + w, "y0": y, "y1": y, "text": text, "x": x0}
        )

    def drawString(self, x: float, y: float, text: str, *a: Any, **k: Any) -> None:
        self._text(x, y, text)
        super().drawString(x, y, text, *a, **k)

    def drawCentredString(self, x: float, y: float, text: str, *a: Any, **k: Any) -> None:
        self._text(x - stringWidth(text, self._fontname, self._fontsize) / 2, y, text)
        super().drawCentredString(x, y, text, *a, **k)

    def drawRightString(self, x: float, y: float, text: str, *a: Any, **k: Any) -> None:
        self._text(x - stringWidth(text, self._fontname, self._fontsize), y, text)
        super().drawRightString(x, y, text, *a, **k)

    def rect(self, x: float, y: float, width: float, height: float, *a: Any, **k: Any) -> None:
        self.drawn.append(
            {"page": self.pages, "x0": x, "x1": x + width, "y0": y, "y1": y + height, "text": None}
        )
        super().rect(x, y, width, height, *a, **k)

    def showPage(self) -> None:
        super().showPage()
        self.pages += 1


def _row(status: str, *, name: str, enterprise: str, reason: str | None) -> SimpleNamespace:
    at = dt.datetime(2026, 11, 2, 2, 0, tzinfo=dt.UTC)
    return SimpleNamespace(
        id="r1",
        filing_no="DJB-120119-2026-000123",
        status=status,
        review_status="revoked" if status == "revoked" else None,
        project_name=name,
        enterprise_name=enterprise,
        uscc="91120225MA05XXXX1A",
        district="120119",
        project_type="C3360",
        industry_code="C3360",
        vocs_increment_kg=1500,
        control_unit="ZH12011920001",
        park_id=None,
        filed_at=at,
        revoked_at=at if status == "revoked" else None,
        revoke_reason=reason,
    )


def _drawn(monkeypatch: pytest.MonkeyPatch, row: SimpleNamespace) -> tuple[Recording, str]:
    monkeypatch.setattr(canvas, "Canvas", Recording)
    Recording.made.clear()
    doc = receipt.receipt_of(row, "金属表面处理及热处理加工", secret=SECRET, public_url="http://x")
    pdf = receipt.render_pdf(doc)
    assert pdf.startswith(b"%PDF")
    return Recording.made[-1], str(doc["check_code"])


def _footer_texts(c: Recording, code: str) -> set[str]:
    return {
        "天津市蓟州区生态环境局",
        "2026-11-02",
        f"备案号：DJB-120119-2026-000123　校验码：{code}",
        *(f"第 {i} 页 / 共 {c.pages - 1} 页" for i in range(1, c.pages)),
    }


@pytest.mark.parametrize("reason_length", [800, 2000])
def test_a_long_receipt_goes_on_to_further_pages_with_nothing_off_them(
    monkeypatch: pytest.MonkeyPatch, reason_length: int
) -> None:
    reason = ("建设内容与备案信息不符，现场核查发现" * 200)[: reason_length - 10] + "ABCDEFGHIJ"
    name = "P" * 200  # one word of 200 letters: breaks anywhere too
    row = _row("revoked", name=name, enterprise="天津" * 100, reason=reason)
    c, code = _drawn(monkeypatch, row)
    pages = c.pages - 1  # showPage after the last page too
    footer = _footer_texts(c, code)
    for d in c.drawn:
        # Inside the page's margins: 20 mm left and right, 10 mm bottom and top.
        assert d["x0"] >= 20 * MM - 0.01 and d["x1"] <= WIDTH - 20 * MM + 0.01, d
        assert d["y0"] >= 10 * MM and d["y1"] <= HEIGHT - 10 * MM, d
        # The body stays above the footer's lines (authority, date, page).
        if d["text"] not in footer:
            assert d["y0"] >= 32 * MM - 0.01, d
    assert pages >= 2
    texts = [d["text"] for d in c.drawn if d["text"]]
    for i in range(1, pages + 1):
        assert f"第 {i} 页 / 共 {pages} 页" in texts
    # Every character of the reason and the names is there, in order.
    values = "".join(
        d["text"] for d in c.drawn if d["text"] and abs(d["x"] - (20 + 64 + 2) * MM) < 0.01
    )
    assert reason in values and name in values and "天津" * 100 in values
    # The verification on the last page: the QR code's modules, the check code.
    last = [d for d in c.drawn if d["page"] == pages]
    assert f"校验码：{code}" in {d["text"] for d in last}
    modules = [d for d in last if d["text"] is None and d["x1"] - d["x0"] < 2 * MM]
    assert len(modules) > 100
    assert "扫码或访问下列网址核验本回执：" in {d["text"] for d in last}
    assert any("环境影响评价法" in (t or "") for t in texts)


def test_a_usual_receipt_is_one_page(monkeypatch: pytest.MonkeyPatch) -> None:
    row = _row("filed", name="涂装线改造项目", enterprise="天津某涂装有限公司", reason=None)
    c, code = _drawn(monkeypatch, row)
    assert c.pages - 1 == 1
    texts = {d["text"] for d in c.drawn}
    assert "第 1 页 / 共 1 页" in texts and f"校验码：{code}" in texts
    footer = _footer_texts(c, code)
    assert all(d["y0"] >= 32 * MM - 0.01 for d in c.drawn if d["text"] not in footer)
