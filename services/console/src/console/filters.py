"""The filters a page's address carries (`?district=`, `?pollutant=`): a
page is of one district and one pollutant at a time, so a filter the
address gives more than once (`?pollutant=VOCs&pollutant=NOx`, a link made
by hand) is refused, said by the page beside its field, never one of them
taken in silence (FastAPI's query parameter takes the last). Every page
with filters reads them through `repeated_filters`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from svc_common.districts import district_name
from svc_common.guard import typed_code
from svc_common.i18n import msg

#: What a filter given twice in the address is (a page is filtered by one of
#: each), as a page says it: English, Chinese.
ONE_OF = {
    "district": ("one district", "一个区"),
    "pollutant": ("one pollutant", "一种污染物"),
    "as_of": ("one day", "一个日期"),
}


def repeated_filters(
    given: Mapping[str, Sequence[str]], page: tuple[str, str] = ("The page", "本页")
) -> dict[str, str]:
    """Why each filter the address gives more than once is refused, by
    field: `given`, each filter's values in the address (those of `ONE_OF`
    are read); `page`, what the page is called in the message (English,
    Chinese: the public register is "The register", "公示名录"). A page's
    service refuses the same with a 422 naming the parameter (quota-svc's
    register), so none is picked in silence."""
    problems = {}
    page_en, page_zh = page
    for name, (en, zh) in ONE_OF.items():
        values = [typed_code(v)[:20] for v in given.get(name, ())]
        if len(values) > 1:
            said = [district_name(v) if name == "district" else v for v in values[:5]]
            more = "…" if len(values) > 5 else ""
            problems[name] = msg(
                f"{page_en} is filtered by {en} at a time; the address gives "
                f"{len(values)}: {', '.join(said)}{more}. Choose one.",
                f"{page_zh}一次只能按{zh}筛选，地址中给出了 {len(values)} 个："
                f"{'、'.join(said)}{more}；请只选择一个。",
            )
    return problems
