"""Public pages, no sign-in: verify a receipt by filing number and check
code; the public quota register once quota-svc publishes it."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, NamedTuple
from urllib.parse import unquote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from svc_common.districts import DISTRICTS, district_name, district_named, district_problem
from svc_common.guard import typed_code
from svc_common.i18n import msg

from console.api import ApiError, Services, raise_for_problem
from console.auth.users import User
from console.deps import optional_user, pollutant_list, services
from console.filters import repeated_filters
from console.pages.investment.views import park_names
from console.pages.workbench.queues import RECLAIM_SOURCES
from console.pollutants import Pollutant, PollutantList, as_listed
from console.web import beijing_in_text, problem_page, render_with_failure

router = APIRouter(prefix="/console/public")
#: The script eia-svc's receipt carries for its print button when served alone.
_RECEIPT_SCRIPT = re.compile(rb"<script data-receipt-print>.*?</script>", re.S)
#: A filing number, matched whole (fullmatch) in ASCII digits: `$` let a
#: final line break through, into eia-svc's address (a 500).
_NO = re.compile(r"[A-Z]{2,10}-[0-9]{6}-[0-9]{4}-[0-9]{1,9}")


#: The most characters the verify form's fields hold (their `maxlength` in
#: public/verify.html): what is longer, typed into the address, is refused
#: beside its field, which shows its first characters.
NO_CHARS, CODE_CHARS = 60, 40


@router.get("/verify")
async def verify(
    request: Request,
    # No max_length: a value too long for its field is answered beside it,
    # not with the generic page of a 422.
    no: str = Query(""),
    code: str = Query(""),
    api: Services = Depends(services),
) -> Response:
    # Typed in a Chinese input method's full-width mode (ＤＪＢ－１２０１１９…),
    # a number or a code is the same one.
    no, code = (typed_code(v) for v in (no, code))
    no = no.upper()
    result: dict[str, Any] | None = None
    problem: str | None = None
    #: The field a refusal concerns ("no", "code"): said beside that field,
    #: which is marked invalid; None: the verdict's place under the form.
    field: str | None = None
    failed: ApiError | None = None
    if no or code:
        if not _NO.fullmatch(no):
            field = "no"
            problem = msg(
                "A filing number looks like DJB-120119-2026-000123.",
                "备案号的格式如 DJB-120119-2026-000123。",
            )
        elif not code:
            field = "code"
            problem = msg("Enter the check code printed on the receipt.", "请填写回执上的校验码。")
        elif len(code) > CODE_CHARS:
            field = "code"
            problem = msg(
                f"The check code has {len(code)} characters: enter the short code "
                "printed on the receipt.",
                f"校验码有 {len(code)} 个字符：请填写回执上印的校验码。",
            )
        else:
            try:
                result = await api.get(
                    "eia", f"/eia/public/receipts/{no}", token=None, params={"code": code}
                )
            except ApiError as exc:
                if exc.status >= 500:
                    failed, problem = exc, _outage()
                else:
                    # A refused field by the page's word (校验码：…), never
                    # the API's field name the detail repeats (code: …).
                    problem = exc.said()
                    named = {str(e.get("field")) for e in exc.field_errors}
                    field = next((f for f in ("no", "code") if f in named), None)
    # A page that could not be served as asked says so by its status too.
    return render_with_failure(
        request,
        "public/verify.html",
        failed,
        no=no[:NO_CHARS],
        code=code[:CODE_CHARS],
        result=result,
        problem=problem,
        field=field,
    )


def _outage() -> str:
    """What a public page says of a service that failed or could not be
    reached: to try again, not the service's name or what went wrong inside."""
    return msg(
        "This service is unavailable just now; please try again in a few minutes.",
        "该服务暂时不可用，请稍后再试。",
    )


#: What a register page link's cursor may be (quota-svc signs it in
#: URL-safe base64).
_CURSOR = re.compile(r"[A-Za-z0-9_\-=]{1,64}")


def _stale_link() -> str:
    """What the register says of a page link cut short or made up, with the
    way back to the first page (the pager)."""
    return msg(
        "This page link is not complete or no longer valid: start again from the first page.",
        "该翻页链接不完整或已失效，请从第一页开始查看。",
    )


@router.get("/receipt/{no}")
async def receipt(
    request: Request,
    no: str,
    code: str = Query("", max_length=40),
    format: str = Query("html", pattern="^(html|pdf)$"),
    api: Services = Depends(services),
) -> Response:
    """The receipt itself through the console (the public reaches the console,
    not eia-svc). A refusal (a wrong code, an unknown number) is the
    console's own page, not the service's problem JSON; an address without
    its check code (a link cut short) leads to 回执核验, the number filled in."""
    if not code.strip():
        return RedirectResponse(
            "/console/public/verify?" + urlencode({"no": no[:60]}), status_code=303
        )
    if not _NO.fullmatch(no):
        return problem_page(
            request,
            404,
            msg(
                "No receipt matches this filing number and check code.",
                "没有与该备案号和校验码相符的备案回执。",
            ),
        )
    try:
        r = await api.request(
            "GET",
            "eia",
            f"/eia/public/receipts/{no}/receipt",
            token=None,
            params={"code": code, "format": format},
        )
        raise_for_problem(r)
    except ApiError as exc:
        if exc.status < 500:
            raise
        return problem_page(request, exc.page_status, _outage(), headers=exc.page_headers)
    body = r.content
    media = r.headers.get("content-type", "text/html")
    if r.status_code == 200 and format == "html":
        # Its PDF link goes through the console as well.
        body = body.replace(
            f"/eia/public/receipts/{no}/receipt?".encode(),
            f"/console/public/receipt/{no}?".encode(),
        )
        # Its print button works by the console's script: the receipt's own
        # inline one would be refused by the console's policy.
        body = _RECEIPT_SCRIPT.sub(b"", body)
        body = body.replace(
            b"</head>", b'<script src="/console/static/console.js" defer></script></head>', 1
        )
    headers = {}
    if "content-disposition" in r.headers:
        headers["content-disposition"] = r.headers["content-disposition"]
    return Response(body, status_code=r.status_code, media_type=media, headers=headers)


#: The register's filters, in the order the form and its links carry them.
_FILTERS = ("district", "pollutant")
#: What the register is called where it refuses a filter given twice.
REGISTER = ("The register", "公示名录")


def filter_problems(
    district: str, pollutant: str, pollutants: Sequence[str] | None
) -> dict[str, str]:
    """Why a filter typed into the address is none the register has, by
    field (said beside it on the page; nothing is asked of quota-svc).
    `pollutants`: the codes quota-svc keeps (None: unknown, left to it)."""
    problems = {}
    if district and (problem := district_problem(district[:20])):
        problems["district"] = problem
    if pollutant and pollutants is not None and pollutant not in pollutants:
        shown, listed = pollutant[:20], "、".join(pollutants)
        problems["pollutant"] = msg(
            f"{shown!r} is not a pollutant under total-quantity control"
            f" (one of {', '.join(pollutants)})",
            f"{shown!r} 不是总量控制污染物（应为 {listed} 之一）",
        )
    return problems


def register_href(filters: Mapping[str, str], cursor: str | None = None) -> str:
    """A register page's address: its filters kept, and a page's cursor."""
    query = {k: v for k, v in filters.items() if v} | ({"cursor": cursor} if cursor else {})
    return "/console/public/register" + ("?" + urlencode(query) if query else "")


@router.get("/register")
async def register(
    request: Request,
    # No pattern: a link cut short or made up is said so on the page, not
    # with the generic page of a 422; a filter the register has not, beside
    # its field.
    cursor: str = Query(""),
    district: str = Query(""),
    pollutant: str = Query(""),
    api: Services = Depends(services),
    listing: PollutantList = Depends(pollutant_list),
) -> Response:
    """The public quota register (总量指标公示), a page at a time (the
    register's `next_cursor` is the next page's link), of one district or
    pollutant or all (the form's filters, kept in the page links). Until
    quota-svc publishes `GET /quota/public/register` the page says so
    instead of failing."""
    given = request.query_params
    repeated = repeated_filters({k: given.getlist(k) for k in _FILTERS}, REGISTER)
    # A filter given twice selects neither: the field shows all, beside its
    # refusal.
    district, pollutant = (
        "" if k in repeated else typed_code(v)
        for k, v in (("district", district), ("pollutant", pollutant))
    )
    pollutants = await listing.read_or_none(api)
    codes = [p.code for p in pollutants] if pollutants is not None else None
    pollutant = as_listed(pollutant, pollutants)
    data: Any = None
    available = True
    problem: str | None = None
    failed: ApiError | None = None
    errors = filter_problems(district, pollutant, codes) | repeated
    filters = {
        k: v for k, v in (("district", district), ("pollutant", pollutant)) if k not in errors
    }
    if errors:
        pass  # said beside the fields; no register filter looks so
    elif cursor and (not _CURSOR.fullmatch(cursor) or len(given.getlist("cursor")) > 1):
        # Not sent on: no register cursor looks so, and a link has one.
        problem = _stale_link()
    else:
        params = {k: v for k, v in filters.items() if v} | ({"cursor": cursor} if cursor else {})
        try:
            data = await api.get(
                "quota", "/quota/public/register", token=None, params=params or None
            )
        except ApiError as exc:
            named = {str(e.get("field")) for e in exc.field_errors} & set(_FILTERS)
            if exc.status in (404, 405):
                available = False
            elif exc.status == 422 and named:
                # quota-svc refuses a filter: beside its field, in its words.
                errors = {
                    f: str(e.get("message") or exc.said())
                    for e in exc.field_errors
                    if (f := str(e.get("field"))) in named
                }
                filters = {k: v for k, v in filters.items() if k not in named}
            elif cursor and exc.status == 422:
                # A page link cut short or made up: said plainly, with the way
                # back to the first page (the pager below).
                problem = _stale_link()
            elif exc.status >= 500:
                failed, problem = exc, _outage()
            else:
                problem = exc.said()
    columns, rows = _table(data)
    # The parks' names only for a page that names a park (one read, not one a row).
    named_parks = any("park" in str(r.get("refs", "")) for r in rows)
    parks = await _park_names(api, optional_user(request)) if named_parks else {}
    next_cursor = data.get("next_cursor") if isinstance(data, dict) else None
    return render_with_failure(
        request,
        "public/register.html",
        failed,
        available=available,
        problem=problem,
        errors=errors,
        district=district,
        pollutant=pollutant,
        filtered=any(filters.values()),
        districts=DISTRICTS,
        pollutants=_options(pollutants, filters.get("pollutant", "")),
        columns=columns,
        rows=rows,
        label=register_label,
        kinds=REGISTER_KINDS,
        entry_title=lambda r: entry_title(r.get("refs")),
        refs=lambda r: register_refs(
            r.get("refs"), parks, seq=r.get("seq"), kind=r.get("kind"), district=r.get("district")
        ),
        meta={
            k: register_value(v)
            for k, v in data.items()
            if v is not None and not isinstance(v, list | dict) and k != "next_cursor"
        }
        if isinstance(data, dict)
        else {},
        next_href=register_href(filters, next_cursor) if next_cursor else None,
        first_href=register_href(filters),
        first_page=not cursor,
    )


def _options(pollutants: list[Pollutant] | None, chosen: str) -> list[Pollutant]:
    """The pollutant filter's options; the one chosen kept when quota-svc's
    list could not be read (the form then still says what is shown)."""
    options = list(pollutants or ())
    if chosen and chosen not in {p.code for p in options}:
        options.append(Pollutant(chosen))
    return options


async def _park_names(api: Services, user: User | None) -> dict[tuple[str, str], str]:
    """The parks' names from eia-svc's park register, one read a page (its
    public list, which needs no token: a park shows by its name to anyone);
    from an eia-svc without that list, the list a signed-in user's token
    reads; when neither answers, a park shows by its id."""
    try:
        parks = await api.get("eia", "/eia/public/parks", token=None)
    except ApiError:
        if user is None:
            return {}
        try:
            parks = await api.get("eia", "/eia/parks", token=user.token)
        except ApiError:
            return {}
    return park_names(parks) if isinstance(parks, list) else {}


_ALGORITHM = (
    "SHA-256 of the previous entry's hash, a line break and the entry's canonical JSON",
    "SHA-256（前一条哈希 + 换行符 + 本条内容的规范化 JSON）",
)
#: What quota-svc says of its hash chain (in the language the console asked
#: it for: English or Chinese), as a reader says it.
REGISTER_TEXTS = {
    "sha256(prev_hash + '\\n' + canonical JSON of the content); see docs": _ALGORITHM,
    "sha256(prev_hash + '\\n' + 本条内容的规范化 JSON)；详见文档": _ALGORITHM,
}


def register_value(value: Any) -> Any:
    """A value of the register's own (its hash algorithm) in the reader's
    language when the console knows it; anything else as it is."""
    words = REGISTER_TEXTS.get(value) if isinstance(value, str) else None
    return msg(*words) if words else value


#: The register's columns and kinds as people say them (the register keeps
#: its own field names and codes: they are what its hashes cover).
REGISTER_COLUMNS = {
    "seq": ("No.", "序号"),
    "at": ("Time (Beijing)", "时间（北京时间）"),
    "district": ("District", "区"),
    "pollutant": ("Pollutant", "污染物"),
    "kind": ("Entry", "类别"),
    "amount_t": ("Amount (t/a)", "数量（吨/年）"),
    "refs": ("References", "关联信息"),
    "prev_hash": ("Previous hash", "前一条哈希"),
    "hash": ("Hash", "本条哈希"),
    "algorithm": ("Hash algorithm", "哈希算法"),
    "head": ("Latest entry", "最新条目"),
}
REGISTER_KINDS = {
    "baseline": ("baseline", "存量基数"),
    "reclaim_credit": ("reclaimed", "收回入库"),
    "reduction_credit": ("reduction", "减排入库"),
    "reserve": ("reserved", "预留"),
    "allocate": ("allocated", "分配"),
    "release": ("released", "释放"),
    "expire": ("expired", "过期释放"),
    "transfer": ("transfer", "划转"),
    "adjustment": ("adjustment", "人工调整"),
    "advance": ("advance", "先用后补"),
    "repay": ("repaid", "偿还"),
    "advance_withdrawn": ("advance withdrawn", "先用后补撤回"),
    "swap_out": ("swapped out", "调剂调出"),
    "swap_in": ("swapped in", "调剂调入"),
    "trade_out": ("sold", "交易售出"),
    "trade_in": ("bought", "交易买入"),
    "reclaim_confirmed": ("reclaim confirmed", "收回确认"),
    "reclaim_rejected": ("reclaim rejected", "收回驳回"),
    "swap_proposed": ("swap proposed", "调剂申请"),
    "swap_approved": ("swap approved", "调剂批准"),
    "swap_cancelled": ("swap cancelled", "调剂撤销"),
    "swap_settled": ("swap settled", "调剂完成"),
    "trade_settled": ("trade settled", "交易完成"),
    "trade_refused": ("trade refused", "交易拒绝"),
    "ratio_setting": ("offset ratio set", "倍量替代比例设定"),
    "ratio_table": ("air-quality ratio table", "空气质量倍量表"),
    "air_quality": ("air quality status", "空气质量状况"),
    "advance_limit": ("advance limit", "先用后补额度"),
    "debt_created": ("debt created", "形成欠量"),
    "debt_repaid": ("debt repaid", "欠量偿还"),
}


#: The keys of an entry's references (`refs`: `entry=…;pool=120101:VOCs`)
#: as people say them.
REGISTER_REFS = {
    "entry": ("journal entry", "流水号"),
    "pool": ("pool", "指标池"),
    "reservation": ("reservation", "预留编号"),
    "ratio": ("offset ratio", "倍量替代比例"),
    "effective_from": ("effective from", "生效时间"),
    "effective": ("effective", "生效时间"),
    "reclaim": ("reclaim", "收回编号"),
    "uscc": ("USCC", "统一社会信用代码"),
    "permit": ("permit", "许可证"),
    "source": ("source", "来源"),
    "swap": ("swap", "调剂编号"),
    "to": ("to district", "调入区"),
    "from": ("from district", "调出区"),
    "trade": ("trade", "交易编号"),
    "seller": ("seller", "卖方"),
    "buyer": ("buyer", "买方"),
    "buyer_district": ("buyer's district", "买方所在区"),
    "contract": ("contract", "合同编号"),
    "contract_sha256": ("contract reference digest (SHA-256)", "合同编号摘要 (SHA-256)"),
    "reason": ("reason", "原因"),
    "debt": ("debt", "欠量编号"),
    "lot": ("lot", "批次编号"),
    "due": ("due", "偿还期限"),
    "term_days": ("term (days)", "期限（天）"),
    "price_fen_per_t": ("price (yuan per tonne)", "成交价（元/吨）"),
    "status": ("air quality", "空气质量状况"),
    "replaces_scheduled": ("replaces the setting scheduled for", "取代原定生效时间的设定"),
    "ref": ("reference", "关联编号"),
}
#: The codes an entry's references carry as values (quota-svc's own, which
#: its hashes cover), by key, as people say them: the page says references
#: in words (来源：许可量核减, not permit_changed).
REGISTER_REF_VALUES: dict[str, dict[str, tuple[str, str]]] = {
    # A reclaim's source, as the workbench says it (one table).
    "source": RECLAIM_SOURCES,
    "reason": {
        "same_enterprise": ("seller and buyer are the same enterprise", "买卖双方为同一企业"),
        "seller_holds_too_little": ("the seller holds too little", "卖方持有的有效指标不足"),
        "buyer_need_not_met": (
            "the amount backs no emission at the buyer district's ratio",
            "按买方所在区倍量替代比例，该数量不足以支撑排放",
        ),
        "seller_reclaim_pending": (
            "the seller's permit was cancelled and its reclaim awaits confirmation",
            "卖方许可证已注销，收回待确认",
        ),
        "buyer_permit_cancelled": (
            "the buyer's permit was cancelled and its reclaim awaits confirmation",
            "买方许可证已注销，收回待确认",
        ),
        "ledger_disagrees": ("the ledger disagrees", "台账不一致"),
    },
    "ratio": {"air_quality": ("set by air quality", "按空气质量确定")},
    "status": {
        "attained": ("attained", "达标"),
        "slightly_exceeded": ("slightly exceeded", "轻度超标"),
        "exceeded": ("exceeded", "超标"),
        "severely_exceeded": ("severely exceeded", "严重超标"),
    },
}


def _price(fen: str) -> str:
    """A price in fen per tonne (the register's integer) in yuan, exactly
    (a float loses cents past 2**53 fen, or rounds them)."""
    try:
        return f"{Decimal(int(fen)).scaleb(-2):,.2f}"
    except ValueError:
        return fen


_POOL_KINDS = {"reserve": ("priority reserve", "政府储备"), "park": ("park sub-pool", "园区子池")}


def _district(code: str) -> str:
    return msg(*district_named(code))


def _pool(value: str, parks: Mapping[tuple[str, str], str] | None = None) -> str:
    """`120116:VOCs:park:nangang` as 滨海新区 VOCs 园区子池 天津南港工业区: a
    park by the name eia-svc's park register gives it (`parks`, by district
    and park id), by its id where the console has no name for it."""
    district, _, rest = value.partition(":")
    pollutant, _, kind = rest.partition(":")
    kind, _, park = kind.partition(":")
    words = [district_name(district), pollutant]
    if kind:
        words.append(msg(*_POOL_KINDS[kind]) if kind in _POOL_KINDS else kind)
    if park:
        words.append((parks or {}).get((district, park)) or park)
    return " ".join(w for w in words if w)


#: A record's id in an entry's references (a reservation's, a trade's…): a
#: UUID, shown by its first characters (the hashes' way: `3ae8be47…`).
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_SHORT_ID = 8


class RefLine(NamedTuple):
    """One of an entry's references as the page shows it: its label, its
    value in words, and the register's own text where the words replace an
    identifier (the page's `title`, for an auditor to match the CSV)."""

    label: str
    text: str
    raw: str | None = None


#: The label of what a journal entry says beyond its kind (摘要, as a
#: Chinese ledger heads the line that says what happened).
_ENTRY_SUMMARY = ("details", "摘要")
#: The last part of a journal entry's reference (`res:…:allocate`,
#: `park:nangang:out`): which step of its record the entry is, as people say it.
_ENTRY_STEPS = {
    "out": ("out", "转出"),
    "in": ("in", "转入"),
    "hold": ("held", "冻结"),
    "remainder": ("remainder released", "余量释放"),
}


def _entry(
    ref: str,
    kind: Any,
    district: str,
    parks: Mapping[tuple[str, str], str],
) -> str:
    """What a journal entry's reference (`res:3ae8…:allocate`, machine text)
    says beyond the entry's kind, in words (转出至园区子池 天津南港工业区); ""
    where the kind column says it all (预留, 分配…)."""
    head, _, step = ref.rpartition(":")
    origin, _, park = head.partition(":")
    words = None if step == str(kind) else _ENTRY_STEPS.get(step) or REGISTER_KINDS.get(step)
    said = msg(*words) if words else ""
    if origin == "park" and park and step == "out":
        name = parks.get((district, park)) or park
        said = msg(f"out to the park sub-pool {name}", f"转出至园区子池 {name}")
    return said


def entry_title(text: Any) -> str | None:
    """The journal entry's reference an entry's references carry
    (`entry=res:…:allocate`), for the title of the entry's number (序号): an
    auditor matches it with the API and the CSV; a reader sees the number
    once, in its column."""
    for part in str(text or "").split(";"):
        key, sep, value = part.partition("=")
        if sep and key == "entry":
            return f"{register_label(key, REGISTER_REFS)}{msg(': ', '：')}{unquote(value)}"
    return None


def register_refs(
    text: Any,
    parks: Mapping[tuple[str, str], str] | None = None,
    *,
    seq: Any = None,
    kind: Any = None,
    district: Any = None,
) -> list[RefLine]:
    """An entry's references (the text its hash covers, `k=v;k=v`) as
    lines people read: keys in words, districts by name, instants in
    Beijing time, codes in words (`REGISTER_REF_VALUES`), the journal
    entry (流水号) only by what it says beyond its kind (摘要: its number is
    the entry's own, `seq`, shown in its column, with the reference in that
    number's title: `entry_title`), a record's id (UUID) by its first
    characters with the whole id kept as `raw`; a key or a code the console
    does not know as it is. Values come percent-encoded for `%`, `;` and `=` (quota-svc's
    `ref_value`) and are shown decoded."""
    pairs = []
    for part in str(text or "").split(";"):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep:
            key, value = "", part
        value = unquote(value)
        label = register_label(key, REGISTER_REFS) if key else ""
        if key == "entry":
            # With the entry's number in its column (序号, titled with this
            # reference), the line says only what the kind does not.
            if not str(seq or "").isdigit():
                said = _entry(value, kind, str(district or ""), parks or {})
                pairs.append(RefLine(label, " · ".join(w for w in (value, said) if w)))
            elif said := _entry(value, kind, str(district or ""), parks or {}):
                pairs.append(RefLine(msg(*_ENTRY_SUMMARY), said))
            continue
        if _UUID.fullmatch(value):
            # A record's id (a reservation's, a trade's…): its first
            # characters tell a page's entries of one record apart; the
            # whole id, as the API and the CSV publish it, is the title.
            pairs.append(RefLine(label, value[:_SHORT_ID] + "…", value))
            continue
        words = REGISTER_REF_VALUES.get(key, {}).get(value)
        if words:
            value = msg(*words)
        elif key in ("to", "from", "buyer_district"):
            value = _district(value)
        elif key == "pool":
            value = _pool(value, parks)
        elif key == "price_fen_per_t":
            value = _price(value)
        else:
            value = beijing_in_text(value)
        pairs.append(RefLine(label, value))
    return pairs


def register_label(key: str, table: dict[str, tuple[str, str]] = REGISTER_COLUMNS) -> str:
    """A register column (or, with REGISTER_KINDS, an entry's kind) in the
    reader's language; a name the register grows later shows as it is."""
    words = table.get(key)
    return msg(*words) if words else key


def _table(data: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """Whatever list of records the register answers with, as a table: the
    page shows the register's own field names, so it needs no change when
    the register grows a column."""
    items: Any = data
    if isinstance(data, dict):
        items = next(
            (
                v
                for k in ("items", "entries", "rows", "pools")
                if isinstance(v := data.get(k), list)
            ),
            None,
        )
        if items is None:
            items = next((v for v in data.values() if isinstance(v, list)), [])
    if not isinstance(items, list):
        return [], []
    rows = [r for r in items[:5000] if isinstance(r, dict)]
    columns: list[str] = []
    for r in rows:
        for k, v in r.items():
            if k not in columns and not isinstance(v, dict | list):
                columns.append(k)
    return columns[:20], rows
