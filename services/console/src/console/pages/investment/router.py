"""招商 (investment attraction): quota by district ranked by the largest
project that fits, "does my project fit?", park sub-pools and priority
reserves apart, a 12-month trend from the ledger's past balances, totals,
export and print."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BeforeValidator
from svc_common.districts import DISTRICTS, district_name
from svc_common.guard import typed_code
from svc_common.i18n import msg
from svc_common.types import utcnow

from console.api import ApiError, Services
from console.auth.users import User
from console.deps import pollutant_list, services, signed_in
from console.filters import repeated_filters
from console.pages.investment import export, views
from console.pollutants import Pollutant, PollutantList, as_listed
from console.web import is_htmx, problem_page, render, render_with_failure, today_beijing

router = APIRouter(prefix="/console/investment")
ROLES = ("investment", "officer", "admin", "auditor")
#: A pollutant's code as an address may carry it, or blank.
_CODE = r"^([A-Za-z][A-Za-z0-9_.\-]{0,19})?$"
#: The pollutant the page is of, and its trend and export with it (their
#: links carry the page's): none (or blank) is the first of quota-svc's
#: list; any case, full-width letters and digits and spaces around it name
#: the listed one (`vocs` and `ＶＯＣｓ` are VOCs: read as typed first).
Chosen = Annotated[
    str,
    Query(pattern=_CODE),
    BeforeValidator(lambda v: typed_code(v) if isinstance(v, str) else v),
]


async def _pollutants(
    listing: PollutantList, api: Services
) -> tuple[list[Pollutant], ApiError | None]:
    """quota-svc's pollutants, or none and why: without its list the page
    can neither offer a pollutant nor check an amount, and says so (503 with
    Retry-After when quota-svc is out, as for its pools)."""
    try:
        return await listing.read(api), None
    except ApiError as exc:
        return [], exc


def _first(pollutants: list[Pollutant]) -> str:
    """The pollutant a page asked for none is of: the first of quota-svc's
    list (VOCs), "" when it could not be read."""
    return pollutants[0].code if pollutants else ""


async def _chosen(pollutant: str, listing: PollutantList, api: Services) -> str:
    """The pollutant the trend or the export is of: the one its link
    carries (the page's), or, for none, the page's default. quota-svc's list
    unread, a link without one is said as the page says it (503 with
    Retry-After, 502); a pollutant quota-svc does not keep is refused by it,
    in its words, as on the page's pools."""
    if not pollutant:
        return _first(await listing.read(api))
    # As the page does; its list unread, the pollutant goes as given.
    return as_listed(pollutant, await listing.read_or_none(api))


def _twice(request: Request) -> str | None:
    """Why the address gives the pollutant more than once (`?pollutant=VOCs&
    pollutant=NOx`, a link made by hand), or None: the page is of one
    pollutant, and neither is taken in silence (`console.filters`)."""
    given = {"pollutant": request.query_params.getlist("pollutant")}
    return repeated_filters(given).get("pollutant")


def _unlisted_said(typed: list[str]) -> str:
    """What the page says when quota-svc's pollutant list cannot be read;
    the amounts typed are named, so none is taken for checked."""
    said = msg(
        "The list of pollutants under total-quantity control could not be read just now,"
        " so no project can be checked; please try again shortly.",
        "暂时无法读取总量控制污染物名录，无法试算，请稍后重试。",
    )
    if typed:
        said += msg(
            " Not checked: " + ", ".join(typed) + ".",
            "未试算：" + "、".join(typed) + "。",
        )
    return said


async def _pools(api: Services, user: User, pollutant: str) -> views.Pools:
    rows, parks = await asyncio.gather(
        api.get("quota", "/quota/availability", token=user.token, params={"pollutant": pollutant}),
        _park_names(api, user),
    )
    return views.split(rows, parks)


async def _park_names(api: Services, user: User) -> dict[tuple[str, str], str]:
    """The parks' names (eia-svc's park register) by district and park id; a
    park eia-svc does not answer for is shown by its id."""
    try:
        parks = await api.get("eia", "/eia/parks", token=user.token)
    except ApiError:
        return {}
    return views.park_names(parks)


async def _pools_or_note(
    api: Services, user: User, pollutant: str
) -> tuple[views.Pools, ApiError | None]:
    """The pools, or none and why: a failed read leaves a note on the pools'
    sections (the fit form and the trend work on their own), never the page
    replaced by an error page."""
    try:
        return await _pools(api, user, pollutant), None
    except ApiError as exc:
        if exc.status == 401:
            raise  # the session ended: sign in again
        return views.Pools([], [], []), exc


def _page(request: Request, failed: ApiError | None, **context: Any) -> Response:
    """The 招商 page, with its status saying a section could not be read (a
    monitor or a cache must not take it for the page): 503 with Retry-After
    for a service out, 502 for a bad answer."""
    context.setdefault("filter_error", None)
    return render_with_failure(
        request,
        "investment/index.html",
        failed,
        pools_error=failed.said() if failed else None,
        **context,
    )


@router.get("/")
async def overview(
    request: Request,
    pollutant: Chosen = "",
    user: User = Depends(signed_in(*ROLES)),
    api: Services = Depends(services),
    listing: PollutantList = Depends(pollutant_list),
) -> Response:
    pollutants, unlisted = await _pollutants(listing, api)
    # A pollutant given twice selects neither: said beside the selector, which
    # shows none, and no pools are read.
    twice = _twice(request)
    pollutant = "" if twice else as_listed(pollutant, pollutants) or _first(pollutants)
    if pollutant and pollutant not in {p.code for p in pollutants}:
        # The selector still says which pollutant the page is of (quota-svc
        # refuses one it does not keep, in its own words, on the pools).
        pollutants.append(Pollutant(pollutant))
    pools, failed = (
        (views.Pools([], [], []), unlisted)
        if unlisted is not None or twice
        else await _pools_or_note(api, user, pollutant)
    )
    return _page(
        request,
        failed,
        filter_error=twice,
        pollutant=pollutant,
        pollutants=pollutants,
        unlisted=_unlisted_said([]) if unlisted else None,
        pools=pools,
        project={},
        field_errors={},
        chosen=[],
        result=None,
        readable=[d for d in DISTRICTS if user.may_act_in(d)],
        max_increment=views.MAX_INCREMENT_TONNES,
    )


@router.get("/fit")
async def fit(
    request: Request,
    user: User = Depends(signed_in(*ROLES)),
    api: Services = Depends(services),
    listing: PollutantList = Depends(pollutant_list),
) -> Response:
    """Which districts take this project: one what-if per district and pollutant
    (POST /quota/checks writes nothing)."""
    q = request.query_params
    asked = q.getlist("district")
    if len(asked) > len(DISTRICTS):
        return problem_page(
            request,
            422,
            msg(
                f"Choose at most {len(DISTRICTS)} districts.",
                f"最多选择 {len(DISTRICTS)} 个区。",
            ),
        )
    form = {k: q.get(k, "") for k in q}
    pollutants, unlisted = await _pollutants(listing, api)
    # Amounts typed for a pollutant quota-svc does not list (or for any,
    # when its list cannot be read): their fields stay, marked, and are said.
    listed = [p.code for p in pollutants]
    not_listed = views.typed_pollutants(form, listed)
    pollutants += [Pollutant(code) for code in not_listed]
    # Without quota-svc's list the amounts typed are still read: one badly
    # written is said beside its field, as it would be once the list is back.
    increments, problems, too_large = views.parse_project(
        form, listed if unlisted is None else not_listed
    )
    chosen = list(dict.fromkeys(d for d in asked if d in DISTRICTS))
    # A code that is no district (a link typed or cut short) is said, not
    # dropped: with none left, every district would have been checked instead.
    unknown = list(dict.fromkeys(d for d in asked if d not in DISTRICTS))
    candidates = [d for d in (chosen or list(DISTRICTS)) if user.may_act_in(d)]
    # Districts asked for that the user may not read (a link shared by a
    # colleague of another district): said, with the ones the user may read.
    outside = [d for d in chosen if not user.may_act_in(d)]
    readable = [d for d in DISTRICTS if user.may_act_in(d)]
    scope = _scope_said(outside, readable) if outside else None
    error = None
    fits: list[views.DistrictFit] = []
    if unlisted is not None:
        error = _unlisted_said(not_listed)
    elif unknown:
        error = msg(
            "Not a district of the city: " + ", ".join(unknown),
            "不是本市的区划代码：" + "、".join(unknown),
        )
    elif problems or too_large or not_listed:
        said = []
        if not_listed:
            said.append(
                msg(
                    "Not a pollutant under total-quantity control (one of "
                    + ", ".join(listed)
                    + "): "
                    + ", ".join(not_listed),
                    "不是总量控制污染物（应为 "
                    + "、".join(listed)
                    + " 之一）："
                    + "、".join(not_listed),
                )
            )
        if problems:
            said.append(
                msg(
                    "Enter each amount in t/a, above 0, with at most 3 decimals: "
                    + ", ".join(problems),
                    "请按吨/年填写大于 0、最多 3 位小数的数量：" + "、".join(problems),
                )
            )
        if too_large:
            # quota-svc's own bound on one project's increment, in its words.
            top = views.MAX_INCREMENT_TONNES
            said.append(
                msg(
                    f"A project's increment may be at most {top} t/a: " + ", ".join(too_large),
                    f"单个项目的增量不得超过 {top} 吨/年：" + "、".join(too_large),
                )
            )
        error = msg("; ", "；").join(said)
    elif not increments:
        error = msg(
            "Enter the project's increment of at least one pollutant.",
            "请至少填写一种污染物的新增量。",
        )
    elif not candidates:
        error = scope or _scope_said([], readable)
        scope = None
    else:
        fits = await _check_all(api, user, candidates, increments)
    context: dict[str, Any] = {
        "result": views.rank_fits(fits) if fits else [],
        "error": error,
        "increments": increments,
        "chosen": chosen,
        "scope": scope,
        "project": form,
        "field_errors": _field_errors(problems, too_large, [] if unlisted else not_listed),
        "pollutants": pollutants,
        "labels": {p.code: p.label for p in pollutants},
        "unlisted": None,  # said as the fit's error
    }
    if is_htmx(request):
        # The amount fields come with the result (out of band): each one
        # refused is marked and said beside it, the others no longer are.
        return render_with_failure(request, "investment/_fit.html", unlisted, oob=True, **context)
    pollutant = next(iter(increments), listed[0] if listed else "")
    pools, failed = (
        (views.Pools([], [], []), unlisted)
        if unlisted is not None
        else await _pools_or_note(api, user, pollutant)
    )
    return _page(
        request,
        failed,
        pollutant=pollutant,
        pools=pools,
        readable=readable,
        max_increment=views.MAX_INCREMENT_TONNES,
        **context,
    )


def _field_errors(
    problems: list[str], too_large: list[str], not_listed: list[str]
) -> dict[str, str]:
    """What is wrong with each refused amount, said beside its field."""
    out = {
        p: msg(
            "Not a pollutant under total-quantity control: not checked.",
            "不是总量控制污染物，未试算。",
        )
        for p in not_listed
    }
    out |= {
        p: msg(
            "Enter t/a above 0, with at most 3 decimals.",
            "请按吨/年填写大于 0、最多 3 位小数的数量。",
        )
        for p in problems
    }
    top = views.MAX_INCREMENT_TONNES
    for p in too_large:
        out[p] = msg(f"At most {top} t/a for one project.", f"单个项目不得超过 {top} 吨/年。")
    return out


def _scope_said(outside: list[str], readable: list[str]) -> str:
    """Districts asked for that are outside the user's, and those the user
    may see (none: the user sees no district's quota)."""
    comma = msg(", ", "、")
    names = comma.join(district_name(d) for d in readable)
    if not outside:
        return msg(
            "You may see no district's quota: ask an administrator for access.",
            "您没有可查看总量指标的区，请联系管理员开通。",
        )
    asked = comma.join(district_name(d) for d in outside)
    if not readable:
        return msg(
            f"{asked}: outside the districts you may see; you may see none.",
            f"{asked}不在您可查看的范围内；您没有可查看的区。",
        )
    return msg(
        f"{asked}: outside the districts you may see ({names}).",
        f"{asked}不在您可查看的范围内（您可查看：{names}）。",
    )


async def _check_all(
    api: Services, user: User, districts: list[str], increments: dict[str, Any]
) -> list[views.DistrictFit]:
    """One what-if per district and pollutant, eight at a time, all within
    one deadline (the API timeout): the user waits at most about one timeout,
    not one per batch. A district whose check failed or did not finish in
    time is one that could not be checked (未能试算), never one that does not
    fit; why is logged by `Services`, not shown."""
    out = {d: views.DistrictFit(d) for d in districts}
    sem = asyncio.Semaphore(8)

    async def one(d: str) -> None:
        async with sem:
            for pollutant, amount in increments.items():
                try:
                    check = await api.post(
                        "quota",
                        "/quota/checks",
                        token=user.token,
                        json={"district": d, "pollutant": pollutant, "increment_t": str(amount)},
                    )
                except ApiError as exc:
                    if exc.status == 401:
                        raise  # the session ended: sign in again
                    out[d].checks.clear()
                    out[d].failed = True
                    return
                out[d].checks.append(views.fit_of(check, pollutant))

    tasks = [asyncio.create_task(one(d)) for d in districts]
    _, late = await asyncio.wait(tasks, timeout=api.timeout)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    for d, task in zip(districts, tasks, strict=True):
        if task in late:
            out[d].checks.clear()
            out[d].failed = True
        elif (exc := task.exception()) is not None:
            raise exc
    return list(out.values())


@router.get("/trend")
async def trend(
    request: Request,
    pollutant: Chosen = "",
    months: int = Query(12, ge=1, le=24),
    user: User = Depends(signed_in(*ROLES)),
    api: Services = Depends(services),
    listing: PollutantList = Depends(pollutant_list),
) -> Response:
    """Available quota per district at the start of each of the last months,
    read from the ledger's balance at those moments (`?at=`)."""
    if twice := _twice(request):
        return problem_page(request, 422, twice)
    pollutant = await _chosen(pollutant, listing, api)
    points = views.trend_points(utcnow(), months)
    districts = [d for d in DISTRICTS if user.may_act_in(d)]
    history = await api.get(
        "quota",
        "/quota/balances",
        token=user.token,
        params={"pollutant": pollutant, "at": [p.isoformat() for p in points]},
    )
    series = views.trend_series(districts, points, views.by_district_and_moment(history, points))
    labels = [p.strftime("%Y-%m") for p in points[:-1]] + [msg("now", "当前")]
    # htmx puts the fragment in the investment page; without JavaScript its
    # <noscript> link opens the trend as a page of its own.
    return render(
        request,
        "investment/_trend.html" if is_htmx(request) else "investment/trend.html",
        pollutant=pollutant,
        labels=labels,
        series=series,
        chart={"labels": labels, "series": series, "unit": msg("t/a", "吨/年")},
    )


@router.get("/export.{fmt}")
async def export_ranking(
    request: Request,
    fmt: str,
    pollutant: Chosen = "",
    user: User = Depends(signed_in(*ROLES)),
    api: Services = Depends(services),
    listing: PollutantList = Depends(pollutant_list),
) -> Response:
    if fmt not in ("csv", "xlsx"):
        return Response(status_code=404)
    if twice := _twice(request):
        return problem_page(request, 422, twice)
    pollutant = await _chosen(pollutant, listing, api)
    pools = await _pools(api, user, pollutant)
    rows = [
        {**p, "district_name": district_name(p["district"])}
        for p in pools.districts + pools.parks + pools.reserves
    ]
    stamp = today_beijing().strftime("%Y%m%d")  # the Beijing date people read
    name = f"quota-{pollutant}-{stamp}.{fmt}"
    if fmt == "csv":
        body, media = export.to_csv(rows), "text/csv; charset=utf-8"
    else:
        body = await asyncio.to_thread(export.to_xlsx, rows, f"{pollutant} {stamp}")
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
