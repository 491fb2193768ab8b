"""What people read, in zh-CN first and English on request (界面语言).

The language of a request comes from its `Accept-Language` header (zh-CN when
absent or when Chinese is preferred; English when English is preferred) and is
kept in a context variable for the whole request. A message is written once
with both texts, `msg("…", "…")`, where it is raised; it returns the text in
the request's language, so the rest of the code handles plain strings.

Pydantic's own validation messages are translated here by their error type,
and problem titles by their status.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any, Literal

Lang = Literal["zh", "en"]
DEFAULT: Lang = "zh"

_lang: ContextVar[Lang] = ContextVar("lang", default=DEFAULT)


def lang() -> Lang:
    return _lang.get()


def msg(en: str, zh: str) -> str:
    """The message in the current request's language."""
    return zh if _lang.get() == "zh" else en


def negotiate(accept_language: str | None) -> Lang:
    """The language an `Accept-Language` header prefers among zh and en
    (RFC 9110 quality values); Chinese when it says nothing we serve."""
    if not accept_language:
        return DEFAULT
    best: tuple[float, int, Lang] | None = None
    for pos, part in enumerate(accept_language[:500].split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        found: Lang | None = (
            "zh" if tag.startswith("zh") else "en" if tag.startswith("en") else None
        )
        if found is None or q <= 0:
            continue
        if best is None or q > best[0] or (q == best[0] and pos < best[1]):
            best = (q, pos, found)
    return best[2] if best else DEFAULT


@contextlib.contextmanager
def use(language: Lang) -> Iterator[Lang]:
    token = _lang.set(language)
    try:
        yield language
    finally:
        _lang.reset(token)


def set_lang(language: Lang) -> None:
    _lang.set(language)


#: The `Content-Language` of an answer in each language.
CONTENT_LANGUAGE: dict[Lang, bytes] = {"zh": b"zh-CN", "en": b"en"}


#: Problem titles by HTTP status.
_TITLES: dict[int, tuple[str, str]] = {
    400: ("Bad request", "请求有误"),
    401: ("Unauthorized", "未认证"),
    403: ("Forbidden", "无权操作"),
    404: ("Not found", "未找到"),
    405: ("Method not allowed", "不支持该请求方法"),
    406: ("Not acceptable", "无法提供所要求的格式"),
    409: ("Conflict", "状态冲突"),
    413: ("Payload too large", "请求内容过大"),
    415: ("Unsupported media type", "不支持的内容类型"),
    422: ("Unprocessable request", "请求内容无效"),
    429: ("Too many requests", "请求过于频繁"),
    500: ("Internal error", "内部错误"),
    503: ("Service unavailable", "服务暂不可用"),
}


def title(status: int, english: str | None = None) -> str:
    """The localised title of a problem of `status`."""
    en, zh = _TITLES.get(status, (english or "Error", "错误"))
    return msg(english or en, zh)


def _ctx(ctx: dict[str, Any] | None, name: str) -> str:
    value = (ctx or {}).get(name, "")
    return str(value)


#: Pydantic error types → (English, Chinese) templates filled from the error's ctx.
_PYDANTIC: dict[str, tuple[str, str]] = {
    "missing": ("field required", "必填项缺失"),
    "extra_forbidden": ("unknown field", "不接受此字段"),
    "string_type": ("must be a string", "必须是字符串"),
    "string_too_short": (
        "must have at least {min_length} characters",
        "至少需要 {min_length} 个字符",
    ),
    "string_too_long": (
        "must have at most {max_length} characters",
        "最多 {max_length} 个字符",
    ),
    "string_unicode": (
        "is not valid Unicode text (a lone surrogate escape such as \\ud800?)",
        "不是有效的 Unicode 文本（是否有单独的代理项转义，如 \\ud800？）",
    ),
    "string_pattern_mismatch": ("does not match the pattern {pattern}", "格式不符合 {pattern}"),
    "int_type": ("must be a whole number", "必须是整数"),
    "int_parsing": ("must be a whole number", "必须是整数"),
    "int_from_float": ("must be a whole number", "必须是整数"),
    "float_type": ("must be a number", "必须是数字"),
    "float_parsing": ("must be a number", "必须是数字"),
    "decimal_parsing": ("must be a decimal number", "必须是十进制数"),
    "decimal_type": ("must be a decimal number", "必须是十进制数"),
    "bool_type": ("must be true or false", "必须是 true 或 false"),
    "bool_parsing": ("must be true or false", "必须是 true 或 false"),
    "greater_than": ("must be greater than {gt}", "必须大于 {gt}"),
    "greater_than_equal": ("must be at least {ge}", "不得小于 {ge}"),
    "less_than": ("must be less than {lt}", "必须小于 {lt}"),
    "less_than_equal": ("must be at most {le}", "不得大于 {le}"),
    "too_short": ("must have at least {min_length} items", "至少需要 {min_length} 项"),
    "too_long": ("must have at most {max_length} items", "最多 {max_length} 项"),
    "list_type": ("must be a list", "必须是列表"),
    "dict_type": ("must be an object", "必须是对象"),
    "model_type": ("must be an object", "必须是对象"),
    "model_attributes_type": ("must be an object", "必须是对象"),
    "literal_error": ("must be one of: {expected}", "必须是以下之一：{expected}"),
    "enum": ("must be one of: {expected}", "必须是以下之一：{expected}"),
    "date_type": ("must be a date (YYYY-MM-DD)", "必须是日期（YYYY-MM-DD）"),
    "date_parsing": ("must be a date (YYYY-MM-DD)", "必须是日期（YYYY-MM-DD）"),
    "date_from_datetime_parsing": ("must be a date (YYYY-MM-DD)", "必须是日期（YYYY-MM-DD）"),
    "date_from_datetime_inexact": ("must be a date (YYYY-MM-DD)", "必须是日期（YYYY-MM-DD）"),
    "datetime_type": (
        "must be a date and time with its UTC offset (ISO 8601)",
        "必须是带时区的日期时间（ISO 8601）",
    ),
    "datetime_parsing": (
        "must be a date and time with its UTC offset (ISO 8601)",
        "必须是带时区的日期时间（ISO 8601）",
    ),
    "datetime_from_date_parsing": (
        "must be a date and time with its UTC offset (ISO 8601)",
        "必须是带时区的日期时间（ISO 8601）",
    ),
    "timezone_aware": ("must carry its UTC offset", "必须带时区偏移"),
    "uuid_type": ("must be a UUID", "必须是 UUID"),
    "uuid_parsing": ("must be a UUID", "必须是 UUID"),
    "json_invalid": ("is not valid JSON", "不是有效的 JSON"),
    "json_type": ("must be JSON", "必须是 JSON"),
    "url_parsing": ("must be a URL", "必须是网址"),
    "url_type": ("must be a URL", "必须是网址"),
    "finite_number": ("must be a finite number", "必须是有限数值"),
    "union_tag_invalid": ("has an unknown kind", "类型未知"),
    "union_tag_not_found": ("does not say its kind", "未说明类型"),
}


def _listed_in_chinese(expected: str) -> str:
    """pydantic's "'a', 'b' or 'c'" as "'a'、'b'、'c'"."""
    head, sep, last = expected.replace(", ", "、").rpartition(" or ")
    return f"{head}、{last}" if sep else expected.replace(", ", "、")


#: Patterns said in words when a value does not match them (pattern →
#: English, Chinese): a regular expression is no reason people read.
_PATTERNS_SAID: dict[str, tuple[str, str]] = {}


def said_as(pattern: str, en: str, zh: str) -> str:
    """`pattern`, which a refusal says as `en` / `zh` instead of itself
    (the API's document keeps the pattern)."""
    _PATTERNS_SAID[pattern] = (en, zh)
    return pattern


def pydantic_message(error_type: str | None, ctx: dict[str, Any] | None, english: str) -> str:
    """A pydantic error's message in the current language. A validator's own
    message (value_error / assertion_error) was written with `msg` already."""
    if error_type in ("value_error", "assertion_error"):
        return english.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if error_type == "string_pattern_mismatch" and (
        said := _PATTERNS_SAID.get(_ctx(ctx, "pattern"))
    ):
        return msg(*said)
    template = _PYDANTIC.get(error_type or "")
    if template is None:
        return english if _lang.get() == "en" else f"无效：{english}"
    en, zh = template
    fields = {
        k: _ctx(ctx, k) for k in ("min_length", "max_length", "pattern", "gt", "ge", "lt", "le")
    }
    fields["expected"] = _ctx(ctx, "expected")
    try:
        return msg(
            en.format(**fields),
            # pydantic lists the choices in English ("'a', 'b' or 'c'").
            zh.format(**{**fields, "expected": _listed_in_chinese(fields["expected"])}),
        )
    except (KeyError, IndexError):  # a template whose ctx is missing: say it plainly
        return english
