"""The filing receipt (建设项目环境影响登记表备案回执) as a real document: the
issuing authority, every filed fact, the legal basis, the status in Chinese
(with the revocation when there is one), and how anyone can verify it — a
check code and a verification URL, also as a QR code.

The check code is an HMAC of the filing number under the service's receipt
secret: anyone holding the number and the code can verify the receipt, nobody
can forge a code for a number, and nothing extra is stored per filing.
Rotating the secret invalidates the codes printed so far (docs/eia-svc.md).

HTML is rendered here with the escaping of `html`; the PDF with reportlab
and its built-in CID font STSong-Light (Chinese with no font file to ship or
download); the QR code with segno in both."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import html
import io
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import segno
from svc_common.calendar import CHINA_STANDARD_TIME
from svc_common.districts import DISTRICTS
from svc_common.i18n import msg
from svc_common.types import kg_to_tonnes

from eia_svc.registrations.rules import REVIEW_ZH, STATUS_ZH

TITLE = "建设项目环境影响登记表备案回执"
LEGAL_BASIS = (
    "《中华人民共和国环境影响评价法》第二十二条第四款：国家对环境影响登记表实行备案管理。",
    "《建设项目环境影响登记表备案管理办法》（环境保护部令第41号）。",
    "《建设项目环境影响评价分类管理名录》。",
)
NOTICE = (
    "本项目已完成环境影响登记表备案。备案不需审批，建设单位对备案信息的真实性、准确性和"
    "完整性负责；事后抽查发现备案信息不实的，备案将被撤销。"
)
#: A revoked receipt no longer says the project is filed.
NOTICE_REVOKED = (
    "本项目的环境影响登记表备案已被撤销，本回执不再证明备案有效。备案不需审批，建设单位对备案"
    "信息的真实性、准确性和完整性负责；事后抽查发现备案信息不实的，备案将被撤销。"
)
CODE_LENGTH = 10
_CODE_CHARS = re.compile(r"[^A-Z2-7]")


def check_code(secret: str, filing_no: str) -> str:
    """The receipt's check code (校验码): 10 base32 characters of an HMAC."""
    digest = hmac.new(secret.encode(), filing_no.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode()[:CODE_LENGTH]


def code_matches(secret: str, filing_no: str, given: str) -> bool:
    """Whether `given` is the filing's code; case, spaces and dashes ignored."""
    cleaned = _CODE_CHARS.sub("", given.upper())
    return hmac.compare_digest(cleaned, check_code(secret, filing_no))


def authority_of(district: str) -> str:
    """The county-level bureau a registration form is filed with (环评法 §22)."""
    return f"天津市{DISTRICTS.get(district, district)}生态环境局"


def verify_url(public_url: str, filing_no: str, code: str) -> str:
    """Where anyone verifies the receipt: the console's public page."""
    query = urlencode({"no": filing_no, "code": code})
    return f"{public_url.rstrip('/')}/console/public/verify?{query}"


def _local(at: dt.datetime | None) -> str | None:
    return at.astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m-%d %H:%M:%S") if at else None


def receipt_of(
    r: Any,
    project_type_name: str | None = None,
    *,
    secret: str | None = None,
    public_url: str = "",
    park_name: str | None = None,
    control_unit_name: str | None = None,
) -> dict[str, Any]:
    """Receipt fields of a registration row (attribute access). With `secret`
    the check code and verification URL are included."""
    code = check_code(secret, r.filing_no) if secret else None
    return {
        "title": TITLE,
        "filing_no": r.filing_no,
        "filing_id": r.id,
        "authority": authority_of(r.district),
        "status": r.status,
        "status_text": STATUS_ZH.get(r.status, r.status),
        "review_status": r.review_status,
        "review_text": REVIEW_ZH.get(r.review_status) if r.review_status else None,
        "project_name": r.project_name,
        "enterprise_name": r.enterprise_name,
        "uscc": r.uscc,
        "district": r.district,
        "district_name": DISTRICTS.get(r.district, r.district),
        "project_type": r.project_type,
        "project_type_name": project_type_name,
        "industry_code": r.industry_code,
        "vocs_increment_t": str(kg_to_tonnes(r.vocs_increment_kg)),
        "control_unit": r.control_unit,
        "control_unit_name": control_unit_name,
        "park_id": r.park_id,
        "park_name": park_name,
        "filed_at": r.filed_at.isoformat(),
        "filed_at_local": _local(r.filed_at),
        "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
        "revoked_at_local": _local(r.revoked_at),
        "revoke_reason": r.revoke_reason,
        "legal_basis": list(LEGAL_BASIS),
        "notice": NOTICE_REVOKED if r.status == "revoked" else NOTICE,
        "check_code": code,
        "verify_url": verify_url(public_url, r.filing_no, code) if code else None,
    }


@dataclass(frozen=True)
class Line:
    label: str
    value: str


def lines_of(receipt: dict[str, Any]) -> list[Line]:
    """The receipt's facts in the order printed; always in Chinese (a receipt
    is an official document), with the English label for a foreign reader."""

    def opt(code: str | None, name: str | None) -> str:
        if not code:
            return "无"
        return f"{code} {name}" if name else code

    out = [
        Line("备案号 Filing number", receipt["filing_no"]),
        Line("备案机关 Authority", receipt["authority"]),
        Line("备案状态 Status", receipt["status_text"]),
        Line("项目名称 Project", receipt["project_name"]),
        Line("建设单位 Enterprise", receipt["enterprise_name"]),
        Line("统一社会信用代码 USCC", receipt["uscc"]),
        Line("建设地点 District", f"天津市{receipt['district_name']}（{receipt['district']}）"),
        Line(
            "项目类别 Project type",
            opt(receipt["project_type"], receipt.get("project_type_name")),
        ),
        # The project types are GB/T 4754 classes: an industry that is the
        # project's type is named by the same name (C1431 米、面制品制造).
        Line(
            "国民经济行业 Industry",
            opt(
                receipt.get("industry_code"),
                receipt.get("project_type_name")
                if receipt.get("industry_code") == receipt["project_type"]
                else None,
            ),
        ),
        Line("VOCs 新增排放量 VOCs increment", f"{receipt['vocs_increment_t']} 吨/年 (t/a)"),
        Line("环境管控单元 Control unit", opt(receipt.get("control_unit"), None)),
        Line("所在园区 Park", opt(receipt.get("park_id"), receipt.get("park_name"))),
        Line("备案时间 Filed (北京时间)", receipt["filed_at_local"]),
    ]
    if receipt.get("review_text"):
        out.append(Line("事后抽查 Post-hoc check", receipt["review_text"]))
    if receipt["status"] == "revoked":
        out.append(Line("撤销时间 Revoked (北京时间)", receipt.get("revoked_at_local") or ""))
        out.append(Line("撤销原因 Reason", receipt.get("revoke_reason") or ""))
    if receipt.get("check_code"):
        out.append(Line("校验码 Check code", receipt["check_code"]))
    return out


def qr_svg(url: str) -> str:
    """The verification URL as an inline SVG QR code (segno, error level M)."""
    buf = io.BytesIO()
    segno.make(url, error="m").save(
        buf, kind="svg", scale=3, border=2, xmldecl=False, svgns=True, title="验证二维码"
    )
    return buf.getvalue().decode()


_CSS = """
body{font-family:"Noto Serif CJK SC","Source Han Serif SC","SimSun","Songti SC",serif;
 color:#111;background:#fff;max-width:46em;margin:2em auto;padding:0 1em;line-height:1.6}
h1{text-align:center;font-size:1.5em;letter-spacing:.1em;margin-bottom:.2em}
.no{text-align:center;margin-top:0}
table{border-collapse:collapse;width:100%}
th,td{border:1px solid #333;padding:.4em .6em;text-align:left;vertical-align:top;
 overflow-wrap:anywhere}
th{width:14em;background:#f2f2f2;font-weight:600}
@media (max-width:30em){th{width:6em}}
.revoked{border:3px solid #a00;color:#a00;padding:.6em 1em;font-weight:700;margin:1em 0}
.verify{display:flex;gap:1.5em;align-items:center;margin-top:1.2em}
.verify svg{width:9em;height:9em}
.seal{text-align:right;margin-top:2em}
.actions{margin:1.5em 0}
@media print{.actions{display:none}body{margin:0;max-width:none}}
"""


def render_html(receipt: dict[str, Any], *, pdf_url: str | None = None) -> str:
    e = html.escape
    rows = "\n".join(
        f'<tr><th scope="row">{e(x.label)}</th><td>{e(x.value)}</td></tr>'
        for x in lines_of(receipt)
    )
    revoked = ""
    if receipt["status"] == "revoked":
        revoked = (
            f'<p class="revoked" role="alert">本备案已于 {e(receipt.get("revoked_at_local") or "")}'
            f" 撤销，原因：{e(receipt.get('revoke_reason') or '')}。"
            "This filing has been revoked.</p>"
        )
    basis = "".join(f"<li>{e(b)}</li>" for b in receipt["legal_basis"])
    verify = ""
    if receipt.get("verify_url"):
        verify = (
            f'<div class="verify">{qr_svg(receipt["verify_url"])}<p>扫码或访问下列网址，'
            f"输入备案号与校验码核验本回执真伪（Verify at）：<br>"
            f'<a href="{e(receipt["verify_url"])}">{e(receipt["verify_url"])}</a></p></div>'
        )
    pdf = f'<a href="{e(pdf_url)}">下载 PDF</a> ' if pdf_url else ""
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(TITLE)} {e(receipt['filing_no'])}</title><style>{_CSS}</style></head>"
        f"<body><main><h1>{e(TITLE)}</h1>"
        f'<p class="no">备案号：{e(receipt["filing_no"])}</p>{revoked}'
        f"<table><caption hidden>备案信息</caption>{rows}</table>"
        f"<p>{e(receipt['notice'])}</p><h2>备案依据</h2><ul>{basis}</ul>{verify}"
        f'<p class="seal">{e(receipt["authority"])}<br>{e(receipt["filed_at_local"][:10])}</p>'
        f'<p class="actions">{pdf}<button type="button" data-print>打印 Print'
        f"</button></p></main>{PRINT_SCRIPT}</body></html>"
    )


#: The print button's script, for the receipt served here. The console,
#: which serves it under its own no-inline-script policy, puts its own
#: script (the same behaviour) in place of this one, found by its attribute.
PRINT_SCRIPT = (
    "<script data-receipt-print>document.addEventListener('click',function(e){"
    "if(e.target.closest&&e.target.closest('[data-print]')){window.print();}});</script>"
)


#: The PDF's page geometry, in points (A4; 1 mm = 72 / 25.4 pt).
_MM = 72 / 25.4
_PAGE_W, _PAGE_H = 210 * _MM, 297 * _MM
_LEFT, _RIGHT = 20 * _MM, _PAGE_W - 20 * _MM
_TOP = _PAGE_H - 20 * _MM
#: Nothing of the receipt's body goes below this line: under it are the
#: issuing authority and date (the last page) and each page's footer.
_BOTTOM = 32 * _MM
_LINE = 5.5 * _MM


def render_pdf(receipt: dict[str, Any]) -> bytes:
    """The receipt as an A4 PDF (reportlab, CID font STSong-Light). Long
    text (a revocation's reason of 2,000 characters, names of 200) wraps and
    goes on to further pages; every page's footer carries the filing number,
    the check code and 第 i 页 / 共 n 页, and the verification (QR code, URL,
    check code) always follows the text on the last page. Drawn twice: the
    first time to count the pages."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if _FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(_FONT))
    pages = _draw_pdf(receipt, total=None)[1]
    return _draw_pdf(receipt, total=pages)[0]


_FONT = "STSong-Light"


def _draw_pdf(receipt: dict[str, Any], *, total: int | None) -> tuple[bytes, int]:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    font = _FONT
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    c.setTitle(f"{TITLE} {receipt['filing_no']}")
    c.setAuthor(receipt["authority"])
    width = _PAGE_W
    left, right = _LEFT, _RIGHT
    page = 1

    def footer() -> None:
        c.setFillColorRGB(0, 0, 0)
        c.setFont(font, 9)
        code = receipt.get("check_code")
        said = f"备案号：{receipt['filing_no']}" + (f"　校验码：{code}" if code else "")
        c.drawString(left, 12 * _MM, said)
        c.drawRightString(right, 12 * _MM, f"第 {page} 页 / 共 {total or '?'} 页")

    def new_page() -> float:
        """The page is full: its footer, and the next page's top."""
        nonlocal page
        footer()
        c.showPage()
        page += 1
        c.setFont(font, 10)
        c.drawString(left, _TOP, f"{TITLE}（续）　备案号：{receipt['filing_no']}")
        return _TOP - 9 * _MM

    def room(y: float, needed: float) -> float:
        """`y`, or the next page's top when `needed` does not fit above the bottom."""
        return y if y - needed >= _BOTTOM else new_page()

    y = _TOP - 5 * _MM
    c.setFont(font, 18)
    c.drawCentredString(width / 2, y, TITLE)
    y -= 9 * _MM
    c.setFont(font, 11)
    c.drawCentredString(width / 2, y, f"备案号：{receipt['filing_no']}")
    y -= 10 * _MM
    if receipt["status"] == "revoked":
        c.setFillColorRGB(0.65, 0, 0)
        c.setFont(font, 13)
        c.drawString(left, y, f"本备案已于 {receipt.get('revoked_at_local') or ''} 撤销")
        y -= 7 * _MM
        c.setFillColorRGB(0, 0, 0)
    label_w = 64 * _MM
    # A row is drawn from its top (`top`): a part of it per page when it is
    # longer than what is left of the page, its label again with （续）.
    top = y + 4 * _MM
    for line in lines_of(receipt):
        parts = _wrap(line.value, right - left - label_w - 4 * _MM, font, 10.5)
        label = line.label
        while parts:
            fits = int((top - 2 * _MM - _BOTTOM) // _LINE)
            if fits < 1:
                top = new_page() + 4 * _MM
                continue
            chunk, parts = parts[:fits], parts[fits:]
            row_h = len(chunk) * _LINE + 2 * _MM
            c.setFont(font, 10.5)
            c.rect(left, top - row_h, right - left, row_h)
            c.line(left + label_w, top - row_h, left + label_w, top)
            c.drawString(left + 2 * _MM, top - 5 * _MM, label)
            for i, part in enumerate(chunk):
                c.drawString(left + label_w + 2 * _MM, top - 5 * _MM - i * _LINE, part)
            top -= row_h
            if parts:
                top = new_page() + 4 * _MM
                label = f"{line.label}（续）"
    y = top - 4 * _MM - 6 * _MM
    for part in _wrap(receipt["notice"], right - left, font, 10.5):
        y = room(y, 0)
        c.setFont(font, 10.5)
        c.drawString(left, y, part)
        y -= _LINE
    y -= 3 * _MM
    y = room(y, 5 * _MM)  # the heading with at least one line under it
    c.setFont(font, 11)
    c.drawString(left, y, "备案依据")
    for basis in receipt["legal_basis"]:
        for part in _wrap(basis, right - left, font, 9.5):
            y -= 5 * _MM
            y = room(y, 0)
            c.setFont(font, 9.5)
            c.drawString(left, y, part)
    if receipt.get("verify_url"):
        size = 32 * _MM
        y = room(y, size + 6 * _MM) - size - 6 * _MM
        _draw_qr(c, receipt["verify_url"], left, y, size)
        c.setFont(font, 9.5)
        c.drawString(left + size + 5 * _MM, y + size - 6 * _MM, "扫码或访问下列网址核验本回执：")
        for i, part in enumerate(
            _wrap(receipt["verify_url"], right - left - size - 5 * _MM, font, 9)
        ):
            c.drawString(left + size + 5 * _MM, y + size - 12 * _MM - i * 5 * _MM, part)
        c.drawString(left + size + 5 * _MM, y + 4 * _MM, f"校验码：{receipt['check_code']}")
    c.setFont(font, 11)
    c.drawRightString(right, 25 * _MM, receipt["authority"])
    c.drawRightString(right, 19 * _MM, receipt["filed_at_local"][:10])
    footer()
    c.showPage()
    c.save()
    return buf.getvalue(), page


def _wrap(text: str, width: float, font: str, size: float) -> list[str]:
    """Break text into lines that fit `width` (CJK text breaks anywhere)."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    lines, current = [], ""
    for ch in text:
        if stringWidth(current + ch, font, size) > width and current:
            lines.append(current)
            current = ch
        else:
            current += ch
    lines.append(current)
    return lines


def _draw_qr(c: Any, url: str, x: float, y: float, size: float) -> None:
    """The QR code's modules as filled squares (no image round trip)."""
    qr = segno.make(url, error="m")
    matrix = [list(row) for row in qr.matrix]
    n = len(matrix)
    cell = size / (n + 4)
    c.setFillColorRGB(0, 0, 0)
    for r, row in enumerate(matrix):
        for col, dark in enumerate(row):
            if dark:
                c.rect(x + (col + 2) * cell, y + size - (r + 3) * cell, cell, cell, 0, 1)


def unverified_message() -> str:
    return msg(
        "no receipt with this filing number and check code",
        "没有与该备案号和校验码相符的备案回执",
    )
