"""A list page read a page at a time (supervision-svc's `items` and
`next_cursor`): the page's rows, whether it is the first, and the link to
the next one, its filters kept. The inspections, the plans and the grades
are read through `list_page`, one shape for every such page."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from console.api import Services, page_of


@dataclass(frozen=True)
class ListPage:
    """One page of a list: its items as the service gave them, whether it
    is the list's first page, and the next page's link (None on the last)."""

    items: list[Any]
    first_page: bool
    next_href: str | None

    def links(self) -> dict[str, Any]:
        """What the page's template draws its paging links from."""
        return {"first_page": self.first_page, "next_href": self.next_href}


async def list_page(
    api: Services,
    token: str,
    service: str,
    path: str,
    *,
    page: str,
    cursor: str,
    limit: int,
    filters: Mapping[str, str] | None = None,
) -> ListPage:
    """The page of `path`'s list at `cursor` (a page's link, passed on as it
    is: one the service does not take is its refusal), `limit` items, read
    with the user's token and `filters`; the next page's link is `page`
    with the filters and the service's `next_cursor`. Raises `ApiError`
    as the read does (a bad answer: 502)."""
    kept = {k: v for k, v in (filters or {}).items() if v}
    params: dict[str, Any] = {**kept, "limit": limit} | ({"cursor": cursor} if cursor else {})
    answer = page_of(await api.get(service, path, token=token, params=params))
    next_cursor = str(answer.get("next_cursor") or "") or None
    return ListPage(
        items=list(answer["items"]),
        first_page=not cursor,
        next_href=f"{page}?{urlencode({**kept, 'cursor': next_cursor})}" if next_cursor else None,
    )
