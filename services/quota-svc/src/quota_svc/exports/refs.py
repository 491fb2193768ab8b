"""Project refs of an import as the ledger keeps them since migration 0011
(pure): a reservation's `project_ref` with its full-width ASCII forms and
the ideographic space as ASCII (`svc_common.guard.fold_width`, what the
API's `ProjectRef` does to every ref it takes). An export made before that
migration may carry "ＢＤ－１"; stored so, the project was found by no
request for "BD-1" and could be held a second time. Only the reservations
carry the ref as such (lots, movements and debts copy it into a note, which
the migration left as written, and so does the import)."""

from __future__ import annotations

from typing import Any

from svc_common.guard import fold_width, ref_text_problem
from svc_common.i18n import msg

from quota_svc.exports.rules import Rows, at_row
from quota_svc.reservations.rules import ReservationStatus

#: Reservations that hold their project (the live-project index's rows).
_LIVE = frozenset({ReservationStatus.HELD.value, ReservationStatus.ALLOCATED.value})


def _folded(ref: Any) -> Any:
    return fold_width(ref) if isinstance(ref, str) else ref


def folded_ref_problem(reservations: Rows) -> str | None:
    """The first live reservation whose ref, folded, is that of an earlier
    live one while the two were written differently, named with that row,
    or None. Migration 0011 left such a pair as it was for an officer to
    release one; a restore storing both folded would hold one project
    twice, and the live-project index refuses it. (The same ref written
    alike twice is `rules._first_repeat`'s.)"""
    first: dict[Any, tuple[int, Any]] = {}
    for number, row in reservations:
        if row.get("status") not in _LIVE:
            continue  # a resolved one is folded whatever else exists
        ref = row.get("project_ref")
        key = _folded(ref)
        if key not in first:
            first[key] = (number, ref)
            continue
        earlier, was = first[key]
        if was == ref:
            continue
        return at_row(
            "reservations",
            number,
            "project_ref",
            msg(
                f"{ref!r} is {key!r} as refs are kept since migration 0011 (full-width "
                f"characters as ASCII), the project of row {earlier}'s live reservation "
                f"({was!r}): one project would be held twice; release one of the two in "
                "the ledger exported and export it again",
                f"{ref!r} 按迁移 0011 起的存储方式（全角字符转为半角）即 {key!r}，与第 {earlier} "
                f"行生效预占的项目（{was!r}）相同：同一项目将被预占两次；请在导出的台账中释放"
                "其中一笔后重新导出",
            ),
        )
    return None


def unnamed_ref_problem(reservations: Rows) -> str | None:
    """The first live reservation whose ref, folded, is one the API refuses
    (`guard.ref_text_problem`: a space around it, an invisible character
    in it; "ＢＤ－１\u3000" folds to "BD-1 "), or None. Restored so, no
    request could name its project: a request for "BD-1" would hold the
    project a second time. A resolved one is history and is kept as written."""
    for number, row in reservations:
        ref = row.get("project_ref")
        if row.get("status") not in _LIVE or not isinstance(ref, str):
            continue
        if (why := ref_text_problem(_folded(ref))) is None:
            continue
        return at_row(
            "reservations",
            number,
            "project_ref",
            msg(
                f"{ref!r}: {why}; no request could name this live reservation's project, "
                "and one for it would hold it a second time: write the ref in the file as "
                "the project's permit names it, or release the reservation in the ledger "
                "exported and export it again",
                f"{ref!r}：{why}；任何请求都无法指明该生效预占的项目，再次申请将重复预占：请在文件中"
                "按该项目许可证上的编号改写，或在导出的台账中释放该预占后重新导出",
            ),
        )
    return None


def with_folded_refs(reservations: Rows) -> list[tuple[int, dict[str, Any]]]:
    """The reservations with their refs folded (case and every other
    character kept), as migration 0011 wrote those it found."""
    return [
        (number, {**row, "project_ref": _folded(row.get("project_ref"))})
        if "project_ref" in row
        else (number, dict(row))
        for number, row in reservations
    ]
