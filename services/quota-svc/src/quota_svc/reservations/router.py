"""Reservation API: reserve, allocate, release, read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from fastapi import APIRouter, Depends, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.answers import answer
from svc_common.auth import Principal, require
from svc_common.batching import GroupCommit
from svc_common.context import new_id
from svc_common.db import Database
from svc_common.districts import DistrictCode
from svc_common.errors import Conflict, Forbidden, NotFound, field_error
from svc_common.i18n import msg
from svc_common.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, decode_cursor, keyset_page
from svc_common.routes import keeps_answer_with_effect
from svc_common.service import Runtime, get_db, runtime
from svc_common.types import ResourceId, kg_to_tonnes, tonnes_to_kg
from svc_common.uscc import USCC, uscc_problem

from quota_svc.api import READERS, readable_districts
from quota_svc.debts.rules import AdvanceRefused
from quota_svc.ledger.rules import hundredths_to_ratio
from quota_svc.ledger.service import park_problem
from quota_svc.lots import lineage
from quota_svc.lots.rules import LotShort
from quota_svc.lots.schemas import LineageOut
from quota_svc.lots.service import named_lot_problem
from quota_svc.policy.service import default_policy
from quota_svc.reservations import service
from quota_svc.reservations.models import Reservation, ReservationRow
from quota_svc.reservations.rules import (
    AllocationExceedsHold,
    ReservationStatus,
    repeats_allocation,
)
from quota_svc.reservations.schemas import AllocateIn, ReleaseIn, ReservationIn, ReservationOut
from quota_svc.settings import Settings

router = APIRouter(prefix="/quota/reservations", tags=["reservations"])


def advance_limits(settings: Settings) -> service.AdvanceLimits:
    return service.AdvanceLimits(
        tonnes_to_kg(settings.default_advance_limit_t), settings.debt_term_days
    )


def refused_problem(exc: service.ReservationRefused) -> Conflict:
    req, avail, short = (
        kg_to_tonnes(exc.required_kg),
        kg_to_tonnes(exc.available_kg),
        kg_to_tonnes(exc.shortfall_kg),
    )
    return Conflict(
        msg(
            f"pool {exc.pool_id} cannot hold {req} t: {avail} t available, short by {short} t",
            f"总量池 {exc.pool_id} 无法预留 {req} 吨：可用 {avail} 吨，缺口 {short} 吨",
        ),
        pool_id=exc.pool_id,
        offset_ratio=str(hundredths_to_ratio(exc.ratio_hundredths)),
        required_t=str(kg_to_tonnes(exc.required_kg)),
        available_t=str(kg_to_tonnes(exc.available_kg)),
        shortfall_t=str(kg_to_tonnes(exc.shortfall_kg)),
    )


def _same_request(r: ReservationRow, body: ReservationIn, pool_id: str) -> bool:
    """Whether the project's live hold is what this request asks for: the
    same pool (district, pollutant, park or priority reserve), increment
    and enterprise, drawn on the named lot if one is named. `advance` is
    not compared: it allows a shortfall to be lent, and a hold that exists
    needs none."""
    return (
        r.status == ReservationStatus.HELD
        and r.district == body.district
        and r.pollutant == body.pollutant
        and r.pool_id == pool_id
        and r.increment_kg == tonnes_to_kg(body.increment_t)
        and r.uscc == body.uscc
        and (body.lot_id is None or all(lot == body.lot_id for lot, _ in r.lots or []))
    )


@router.post(
    "",
    status_code=201,
    response_model=ReservationOut,
    responses={
        200: {
            "model": ReservationOut,
            "description": "The same request again: the reservation it made, unchanged",
        }
    },
)
@keeps_answer_with_effect
async def create_reservation(
    body: ReservationIn,
    principal: Principal = Depends(require("officer", "admin")),
    rt: Runtime = Depends(runtime),
) -> Response:
    """Hold quota of the district's pool for a project.

    Beyond the schema (422 naming the field): a `park_id` must be a park
    registered in the district, a `lot_id` a lot of the district's pool of
    that pollutant. Only an admin draws on the priority reserve, approves
    advance use or names a lot (403)."""
    principal.require_district(body.district)
    if body.priority_reserve and principal.role != "admin":
        raise Forbidden(
            msg(
                "only an admin draws on the priority reserve (政府储备)",
                "只有管理员可以动用政府储备",
            )
        )
    if (body.advance or body.lot_id is not None) and principal.role != "admin":
        raise Forbidden(
            msg(
                "only an admin approves advance use (先用后补) or names the lot to draw on",
                "只有管理员可以批准先用后补或指定批次",
            )
        )
    assert isinstance(rt.settings, Settings)
    req = service.ReserveRequest(
        district=body.district,
        pollutant=body.pollutant,
        increment_kg=tonnes_to_kg(body.increment_t),
        project_ref=body.project_ref,
        idempotency_id=f"api:{new_id()}",
        uscc=body.uscc,
        park_id=body.park_id,
        priority_reserve=body.priority_reserve,
        lot_id=body.lot_id,
        advance=body.advance,
    )
    if body.park_id is not None or body.lot_id is not None:
        # Rare requests, read here rather than in the pool's batch: a
        # request naming neither costs no round trip for them.
        async with rt.db.session() as s:
            # Only a registered park of this district has a sub-pool (as
            # eia-svc refuses the park for a filing of another district).
            if body.park_id is not None and (
                problem := await park_problem(s, body.district, body.park_id)
            ):
                raise field_error("park_id", problem)
            # A lot of another pool is not short: it is not this hold's.
            pool = req.pool()
            if body.lot_id is not None and (
                problem := await named_lot_problem(
                    s, body.lot_id, (pool.id, pool.district, pool.pollutant), principal
                )
            ):
                raise field_error("lot_id", problem)
    policy, limits = default_policy(rt.settings), advance_limits(rt.settings)

    kept = _Kept(_created)

    async def reserve(
        s: AsyncSession,
    ) -> tuple[service.Reserved | None, ReservationOut | None, bool]:
        """(the reservation made, or the project's existing one and whether it
        answers this same request)."""
        try:
            done = await service.reserve(s, req, principal, policy, limits, kept.render)
        except service.ProjectAlreadyReserved as exc:  # nothing was written
            return (
                None,
                ReservationOut.of(exc.existing),
                _same_request(exc.existing, body, req.pool().id),
            )
        return done, None, False

    try:
        created, existing, same = await pool_batches(rt).run(
            req.pool().id, reserve, kind=_RESERVATIONS, hint=req.project_ref
        )
    except service.ReservationRefused as exc:
        raise refused_problem(exc) from exc
    except AdvanceRefused as exc:
        raise Conflict(exc.detail, reason=exc.reason) from exc
    except LotShort as exc:
        raise Conflict(
            str(exc),
            reason="lot_short",
            lot_id=exc.lot_id,
            available_t=str(kg_to_tonnes(exc.available_kg)),
        ) from exc
    except IntegrityError as exc:
        # Only a twin request for the project racing on another pool gets here:
        # the live-project index refused the second one.
        raise Conflict(
            msg(
                f"project {body.project_ref} was reserved by a concurrent request; "
                "read it and retry",
                f"项目 {body.project_ref} 已被并发请求预留，请查询后重试",
            ),
            project_ref=body.project_ref,
        ) from exc
    if created is None:
        # The same request again (another or no Idempotency-Key): one effect,
        # the first answer. A different request for the project is a conflict.
        assert existing is not None
        if same:
            return answer(ReservationOut, existing, 200)
        if not principal.may_act_in(existing.district):
            # Refs are unique citywide, but another district's reservation
            # is not this caller's to read.
            raise Conflict(
                msg(
                    f"project ref {body.project_ref} is in use in another district",
                    f"项目编号 {body.project_ref} 已在其他辖区使用",
                ),
                reason="project_ref_in_use",
            )
        raise Conflict(
            msg(
                f"project {body.project_ref} already has a reservation that is {existing.status}",
                f"项目 {body.project_ref} 已有状态为 {existing.status} 的预留",
            ),
            reason="project_reserved",
            reservation_id=existing.id,
            state=existing.status,
        )
    # Its allocation, likely sent to this process too, then finds its pool here.
    r = created.reservation
    service.remember_pool_of(rt.db, r.id, r.pool_id)
    return kept.last if created.created else _created(r)


def _created(r: ReservationRow) -> Response:
    """The answer to a new reservation, kept with it (Writes.answer)."""
    return answer(ReservationOut, ReservationOut.of(r), 201)


def _allocated(r: ReservationRow) -> Response:
    """The answer to an allocation, kept with it (Writes.answer)."""
    return answer(ReservationOut, ReservationOut.of(r))


class _Kept:
    """The answer an operation rendered to keep with its effect, sent as it
    was rendered rather than built and serialised again. An operation that
    ran in a batch undone runs again alone and renders again: the last
    rendering is the one committed."""

    def __init__(self, render: Callable[[ReservationRow], Response]) -> None:
        self._render = render
        self._last: Response | None = None

    def render(self, r: ReservationRow) -> Response:
        self._last = self._render(r)
        return self._last

    @property
    def last(self) -> Response:
        assert self._last is not None, "the operation rendered no answer"
        return self._last


#: The kinds of a pool batch's operations, in the order a batch runs them.
_RESERVATIONS, _ALLOCATIONS = 0, 1


def pool_batches(rt: Runtime) -> GroupCommit:
    """Writes on one pool applied in batches (see svc_common.batching)."""
    batches = rt.extras.get("pool_batches")
    if batches is None:
        assert isinstance(rt.settings, Settings)
        # Every statement of a reservation and an allocation is a
        # DriverStatement: their batches run on the driver (rare paths, an
        # advance or a named lot, run again in a session).
        batches = rt.extras["pool_batches"] = GroupCommit(
            rt.db,
            rt.settings.pool_batch_max,
            on_driver=True,
            prepare={_ALLOCATIONS: service.lock_reservations_of_batch},
            admit={
                _RESERVATIONS: service.admit_reservations_late,
                _ALLOCATIONS: service.admit_allocations_late,
            },
            twins={_RESERVATIONS: service.find_projects_held},
            service=rt.service,
            name="pool",
        )
    return batches


def _no_reservation(reservation_id: str) -> str:
    """A reservation not found: one that does not exist, or another
    district's (`Principal.found`), said alike."""
    return msg(f"reservation {reservation_id} not found", f"预留 {reservation_id} 不存在")


async def _locked(s: AsyncSession, reservation_id: str, principal: Principal) -> ReservationRow:
    return _acted_on(await service.lock_reservation(s, reservation_id), reservation_id, principal)


def _acted_on(
    r: ReservationRow | None, reservation_id: str, principal: Principal
) -> ReservationRow:
    """The locked reservation a manual allocate or release acts on, or the
    problem: not found, another district's, or its filing's to resolve."""
    r = principal.found(r, _no_reservation(reservation_id))
    # Made by an EIA filing's saga: the filing's review resolves it, and a
    # hand here would leave the filing saying what is no longer so.
    filing = r.filing_id
    if filing is not None:
        raise Conflict(
            msg(
                f"reservation {r.id} holds quota for EIA filing {filing}: it is allocated "
                "when the filing is approved and released when the filing is rejected or "
                "withdrawn; act on the filing",
                f"预留 {r.id} 为环评文件 {filing} 所持有：文件批复时自动分配，驳回或撤回时"
                "自动释放，请在环评文件上操作",
            ),
            reason="owned_by_filing",
            filing_id=filing,
        )
    return r


@router.post("/{reservation_id}/allocate", response_model=ReservationOut)
@keeps_answer_with_effect
async def allocate_reservation(
    reservation_id: ResourceId,
    body: AllocateIn | None = None,
    principal: Principal = Depends(require("officer", "admin")),
    rt: Runtime = Depends(runtime),
) -> Response:
    requested = tonnes_to_kg(body.amount_t) if body and body.amount_t is not None else None
    # Not in the request's unit of work: waiting for the batch, the request
    # holds no connection (the batch needs one).
    pool_id = await service.pool_of_reservation(rt.db, reservation_id)
    if pool_id is None:
        raise NotFound(_no_reservation(reservation_id))

    kept = _Kept(_allocated)

    async def allocate(s: AsyncSession) -> Response:
        found, pool = await service.lock_for_allocation(s, reservation_id) or (None, None)
        r = _acted_on(found, reservation_id, principal)
        # A retry of what was done answers with its outcome: the batch may
        # have committed the first attempt before its answer was stored.
        if repeats_allocation(r.status, r.held_kg, r.allocated_kg, requested):
            return _allocated(r)
        await service.allocate(s, r, requested, principal, pool, kept.render)
        return kept.last

    try:
        return await pool_batches(rt).run(pool_id, allocate, kind=_ALLOCATIONS, hint=reservation_id)
    except AllocationExceedsHold as exc:
        raise Conflict(
            msg(
                f"cannot allocate {kg_to_tonnes(exc.requested_kg)} t: only "
                f"{kg_to_tonnes(exc.held_kg)} t is held",
                f"无法分配 {kg_to_tonnes(exc.requested_kg)} 吨：仅预留了 "
                f"{kg_to_tonnes(exc.held_kg)} 吨",
            ),
            requested_t=str(kg_to_tonnes(exc.requested_kg)),
            held_t=str(kg_to_tonnes(exc.held_kg)),
        ) from exc


@router.post("/{reservation_id}/release", response_model=ReservationOut)
async def release_reservation(
    reservation_id: ResourceId,
    body: ReleaseIn,
    principal: Principal = Depends(require("officer", "admin")),
    db: Database = Depends(get_db),
) -> ReservationOut:
    async with db.transaction() as s:
        r = await _locked(s, reservation_id, principal)
        await service.release(s, r, reason="manual", note=body.reason, actor=principal)
    return ReservationOut.of(r)


@router.get("", response_model=Page[ReservationOut])
async def list_reservations(
    uscc: USCC | None = None,
    district: DistrictCode | None = None,
    status: Literal["held", "allocated", "released", "expired"] | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> Page[ReservationOut]:
    """Reservations oldest first, in the caller's districts (or `district`):
    an enterprise's (`uscc`), by status. One request for what a page about
    an enterprise shows, instead of one per reservation."""
    if uscc is not None and (problem := uscc_problem(uscc)):
        raise field_error("uscc", problem)
    after = decode_cursor(cursor, "time", "str")
    rows = await service.list_reservations(
        db,
        readable_districts(principal, district),
        uscc=uscc,
        status=status,
        after=(after[0], after[1]) if after is not None else None,
        limit=limit + 1,
    )
    return keyset_page(rows, limit, lambda r: [r.created_at.isoformat(), r.id], ReservationOut.of)


@router.get("/{reservation_id}", response_model=ReservationOut)
async def get_reservation(
    reservation_id: ResourceId,
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> Response:
    r = principal.found(
        await service.find_reservation(db, reservation_id), _no_reservation(reservation_id)
    )
    return answer(ReservationOut, ReservationOut.of(r))


@router.get("/{reservation_id}/lineage", response_model=LineageOut)
async def reservation_lineage(
    reservation_id: ResourceId,
    principal: Principal = Depends(require(*READERS)),
    db: Database = Depends(get_db),
) -> LineageOut:
    """Where every kilogram of the reservation came from (来源追溯): the lots
    it drew on, each lot's ancestry to its origin (a closed plant, a
    baseline…) and, for an advance, the later credits that repaid it."""
    async with db.session() as s:
        r = principal.found(
            await s.get(Reservation, reservation_id), _no_reservation(reservation_id)
        )
        lots = await lineage.of_reservation(s, r.id)
    return LineageOut(
        reservation_id=r.id,
        project_ref=r.project_ref,
        uscc=r.uscc,
        district=r.district,
        pollutant=r.pollutant,
        status=r.status,
        required_t=kg_to_tonnes(r.held_kg),
        allocated_t=kg_to_tonnes(r.allocated_kg),
        lots=lots,
    )
