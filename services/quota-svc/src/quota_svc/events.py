"""What quota-svc handles from other services' topics. What it publishes is
declared in svc_common.events.schemas.quota and written with outbox.emit.

Each handler runs in the inbox transaction and is idempotent by its own
business key too (filing attempt, project, park, permit), so a re-published
event with a new id has no second effect either."""

from __future__ import annotations

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from svc_common.audit import SYSTEM, record_audit
from svc_common.events.envelope import Envelope
from svc_common.events.schemas.eia import (
    FilingAccepted,
    FilingApproved,
    FilingQuotaRetry,
    FilingRejected,
    FilingWithdrawn,
    ParkRegistered,
)
from svc_common.events.schemas.permit import (
    CANCEL_REASON_WORDS,
    PermitCancelled,
    PermitChanged,
    PermitIssued,
)
from svc_common.events.schemas.quota import (
    QuotaReservationRejected,
    QuotaSubpoolFunded,
    QuotaTransferRejected,
)
from svc_common.failures import PermanentFailure
from svc_common.inbox import EventHandlers
from svc_common.outbox import emit
from svc_common.types import kg_to_tonnes, tonnes_to_kg, utcnow

from quota_svc.ledger import rules as ledger_rules
from quota_svc.ledger.rules import VOCS, Overdraft
from quota_svc.ledger.service import PoolRef, lock_pools, transfer
from quota_svc.policy.rules import Policy
from quota_svc.pollutants.rules import POLLUTANTS
from quota_svc.reclaims import rules as reclaim_rules
from quota_svc.reclaims.models import PermitBacking, Reclaim
from quota_svc.reclaims.service import Candidate, add_candidate
from quota_svc.reservations import service as reservations
from quota_svc.reservations.models import ReservationRow
from quota_svc.reservations.rules import ReservationStatus

log = structlog.get_logger(__name__)

#: The decisions on a filing that resolve its reservation.
FilingDecided = FilingApproved | FilingRejected | FilingWithdrawn


def _check_district(code: str) -> None:
    problem = ledger_rules.district_problem(code)
    if problem:
        raise ValueError(problem)  # dead-lettered: not an event this ledger can apply


def _filing_request(
    e: FilingAccepted | FilingQuotaRetry | FilingApproved, idempotency_id: str, attempt: int
) -> reservations.ReserveRequest:
    """A filing's VOCs need as a reservation request."""
    return reservations.ReserveRequest(
        district=e.district,
        pollutant=VOCS,
        increment_kg=tonnes_to_kg(e.vocs_increment_t),
        project_ref=e.project_ref,
        idempotency_id=idempotency_id,
        uscc=e.uscc,
        park_id=e.park_id,
        filing_id=e.filing_id,
        attempt=attempt,
    )


async def reserve_for_filing(
    s: AsyncSession, e: FilingAccepted | FilingQuotaRetry, default: Policy
) -> None:
    """Hold the project's need when its filing is accepted (or retried)."""
    _check_district(e.district)
    req = _filing_request(e, f"filing:{e.filing_id}:attempt:{e.attempt}", e.attempt)
    try:
        done = await reservations.reserve(s, req, SYSTEM, default)
        if not done.created:
            # Asked again (the requester heard nothing): answer with where
            # the reservation stands now, so the saga converges.
            emit(s, reservations.answer_for(done.reservation, e.attempt))
    except reservations.ProjectAlreadyReserved as exc:
        # The project's hold from an earlier attempt answers this one too.
        emit(s, reservations.answer_for(_made_for(exc.existing, e), e.attempt))
    except reservations.ReservationRefused as exc:
        emit(s, _refused(e, exc, e.attempt))
        record_audit(
            s,
            SYSTEM,
            "quota.reserve.refused",
            "project",
            e.project_ref,
            {"shortfall_kg": exc.shortfall_kg, "filing_id": e.filing_id},
        )


def _refused(
    e: FilingAccepted | FilingQuotaRetry | FilingApproved,
    exc: reservations.ReservationRefused,
    attempt: int,
) -> QuotaReservationRejected:
    """The answer to a filing whose need the pool cannot hold, with the shortfall."""
    return QuotaReservationRejected(
        project_ref=e.project_ref,
        uscc=e.uscc,
        district=e.district,
        pollutant=VOCS,
        pool_id=exc.pool_id,
        increment_t=e.vocs_increment_t,
        offset_ratio=ledger_rules.hundredths_to_ratio(exc.ratio_hundredths),
        required_t=kg_to_tonnes(exc.required_kg),
        available_t=kg_to_tonnes(exc.available_kg),
        shortfall_t=kg_to_tonnes(exc.shortfall_kg),
        attempt=attempt,
    )


def _made_for(
    r: ReservationRow, e: FilingAccepted | FilingQuotaRetry | FilingDecided
) -> ReservationRow:
    """`r` if the filing's saga made it. A reservation made by hand under
    the filing's ref (before such refs were refused) is not the filing's
    to take over, allocate or release: the event is dead-lettered with the
    reason, for an operator to resolve the reservation and re-drive it."""
    if r.filing_id != e.filing_id:
        raise PermanentFailure(
            f"project ref {e.project_ref} is held by reservation {r.id} of district "
            f"{r.district}, which was not made for filing {e.filing_id}"
        )
    return r


#: The events that answer for an approved filing's quota: its approval, or
#: an officer's re-drive of it once its quota lapsed short.
ApprovedFiling = FilingApproved | FilingQuotaRetry


async def _live_locked(
    s: AsyncSession, e: FilingDecided | FilingQuotaRetry
) -> ReservationRow | None:
    live = await reservations.find_live(s, e.project_ref)
    if live is None:
        return None
    _made_for(live, e)
    return await reservations.lock_reservation(s, live.id)


async def _latest_hold(s: AsyncSession, e: ApprovedFiling) -> ReservationRow | None:
    """The filing's latest reservation, whatever its state: expired, the
    hold lapsed while the approval was on its way (the filing still showed
    it secured when the officer approved it); live, the filing's other event
    (a re-drive, or the approval) held it again after this one found
    nothing live (read committed: its look-up ran before that commit)."""
    t = reservations.RESERVATIONS
    conn = await s.connection()
    row = (
        await conn.execute(
            select(t)
            .where(t.c.filing_id == e.filing_id, t.c.project_ref == e.project_ref)
            .order_by(t.c.created_at.desc(), t.c.id.desc())
            .limit(1)
        )
    ).first()
    return ReservationRow.of(row) if row is not None else None


async def _hold_again_for_approval(
    s: AsyncSession,
    e: ApprovedFiling,
    lapsed: ReservationRow | None,
    default: Policy,
    idempotency_id: str,
    attempt: int,
) -> ReservationRow | None:
    """Hold an approved project's need again after its hold lapsed, at the
    ratio in force now; None (the shortfall announced, for `attempt`) if the
    pool lacks it. Renewed meanwhile by the filing's other event (its
    approval and an officer's re-drive, handled at once, both found the
    hold lapsed): that hold, locked, as a later look-up would have found
    it, and nothing renewed twice."""
    req = _filing_request(e, idempotency_id, attempt)
    detail = {"lapsed_reservation_id": lapsed.id if lapsed else None, "attempt": attempt}
    try:
        done = await reservations.reserve(s, req, SYSTEM, default)
    except reservations.ProjectAlreadyReserved as exc:  # nothing was written
        # Not the filing's (made by hand under its ref): dead-lettered, as
        # the look-up would have done.
        return await reservations.lock_reservation(s, _made_for(exc.existing, e).id)
    except reservations.ReservationRefused as exc:
        log.warning("approved project's lapsed hold cannot be renewed", project_ref=e.project_ref)
        emit(s, _refused(e, exc, attempt))
        record_audit(
            s,
            SYSTEM,
            "quota.allocate.lapsed_short",
            "project",
            e.project_ref,
            {**detail, "shortfall_kg": exc.shortfall_kg, "filing_id": e.filing_id},
        )
        return None
    record_audit(
        s,
        SYSTEM,
        "quota.allocate.lapsed_renewed",
        "project",
        e.project_ref,
        {**detail, "reservation_id": done.reservation.id},
    )
    return await reservations.lock_reservation(s, done.reservation.id)


async def _allocate_approved(
    s: AsyncSession,
    e: ApprovedFiling,
    default: Policy,
    idempotency_id: str,
    attempt: int | None,
) -> None:
    """Allocate an approved project's held need: its approved increment ×
    the ratio of its reservation, never more than held; the rest is
    released. If its hold lapsed, the need is held again at the ratio in
    force and allocated in the same transaction; if the pool lacks it, the
    shortfall is announced. `attempt` is a re-drive's (None: the approval):
    a re-drive holds anew whenever nothing is live, and is answered with
    where the quota stands when it was allocated already."""
    r = await _live_locked(s, e)
    if r is not None and r.status == ReservationStatus.EXPIRED:
        # The expiry sweep committed between the look-up and the lock: the
        # hold lapsed just now, and is held again like any lapsed one.
        lapsed: ReservationRow | None = r
    elif r is None:
        latest = await _latest_hold(s, e)
        if latest is not None and latest.status in (
            ReservationStatus.HELD,
            ReservationStatus.ALLOCATED,
        ):
            # Held again by the filing's other event since the look-up:
            # as if the look-up had found it (not "holds no quota").
            r = await reservations.lock_reservation(s, latest.id)
            lapsed = None
        elif latest is not None and latest.status == ReservationStatus.EXPIRED:
            lapsed = latest
        else:
            lapsed = None
    else:
        lapsed = None
    renew = lapsed is not None or (attempt is not None and r is None)
    if renew:
        hold_attempt = attempt if attempt is not None else (lapsed.attempt if lapsed else 1)
        r = await _hold_again_for_approval(s, e, lapsed, default, idempotency_id, hold_attempt)
        if r is None:
            return  # the shortfall announced and audited
    if r is None or r.status != ReservationStatus.HELD:
        if r is None:
            log.warning("approved project holds no quota", project_ref=e.project_ref)
            record_audit(s, SYSTEM, "quota.allocate.skipped", "project", e.project_ref, None)
        elif attempt is not None:
            # A re-drive asked again: answer with the allocation it made.
            emit(s, reservations.answer_for(r, attempt))
        return  # allocated already: the same approval again
    need = ledger_rules.need_kg(tonnes_to_kg(e.vocs_increment_t), r.offset_ratio_hundredths)
    await reservations.allocate(s, r, min(need, r.held_kg), SYSTEM)


async def allocate_for_filing(
    s: AsyncSession, e: FilingApproved, env: Envelope, default: Policy
) -> None:
    """Allocate the held need of an approved project: its approved increment ×
    the ratio of its reservation, never more than held; the rest is released.
    If the hold expired while the approval was on its way, the need is held
    again now and allocated: the bureau approved the project on quota it
    held, and the ledger must show it spent."""
    await _allocate_approved(s, e, default, f"filing:{e.filing_id}:approval", None)


async def reallocate_for_filing(s: AsyncSession, e: FilingQuotaRetry, default: Policy) -> None:
    """An officer re-drives an approved filing whose quota lapsed short
    (`allocate_on_hold`): the need is held at the ratio in force and
    allocated in one transaction, by the late approval's own path, once per
    filing and attempt (`filing:<id>:attempt:<n>`). Still short: the
    shortfall is answered again (quota.reservation_rejected.v1, attempt n)
    and audited, for a retry once quota is reclaimed."""
    _check_district(e.district)
    await _allocate_approved(s, e, default, f"filing:{e.filing_id}:attempt:{e.attempt}", e.attempt)


async def release_for_filing(
    s: AsyncSession, e: FilingRejected | FilingWithdrawn, env: Envelope
) -> None:
    r = await _live_locked(s, e)
    if r is None or r.status != ReservationStatus.HELD:
        return  # nothing held (released already, or never held)
    reason = "rejected" if isinstance(e, FilingRejected) else "withdrawn"
    await reservations.release(s, r, reason=reason, note=e.reason, actor=SYSTEM)


async def carve_park_subpool(s: AsyncSession, e: ParkRegistered, env: Envelope) -> None:
    """Move the park's sub-pool out of its district pool. If the district pool
    lacks it nothing moves, the park's pool stays empty and the shortfall is
    announced; an admin can transfer later."""
    _check_district(e.district)
    source = PoolRef.district_pool(e.district, VOCS)
    target = PoolRef.park(e.district, VOCS, e.park_id)
    amount = tonnes_to_kg(e.vocs_subpool_t)
    funded = QuotaSubpoolFunded(
        park_id=e.park_id,
        pool_id=target.id,
        source_pool_id=source.id,
        district=e.district,
        pollutant=VOCS,
        amount_t=e.vocs_subpool_t,
    )
    # The park's pool is made whatever moves into it: it is the ledger's
    # record that the park is registered (ledger.service.registered_park_district),
    # which a later transfer into it, a reservation or a check names.
    await lock_pools(s, target)
    if amount == 0:  # nothing to move: no zero entries in the journal
        emit(s, funded)
        return
    try:
        await transfer(
            s, source, target, amount, idempotency_id=f"park:{e.park_id}", actor=SYSTEM.sub
        )
        emit(s, funded)
    except Overdraft as od:
        emit(
            s,
            QuotaTransferRejected(
                pool_id=target.id,
                source_pool_id=source.id,
                district=e.district,
                pollutant=VOCS,
                amount_t=e.vocs_subpool_t,
                available_t=kg_to_tonnes(od.available_kg),
                shortfall_t=kg_to_tonnes(od.shortfall_kg),
                park_id=e.park_id,
            ),
        )
    record_audit(s, SYSTEM, "quota.park.subpool", "pool", target.id, {"amount_kg": amount})


def _freed_per_pollutant(e: PermitCancelled) -> dict[str, int]:
    """kg freed per pollutant the ledger keeps (older events name VOCs only)."""
    freed: dict[str, int] = {}
    for p in e.pollutants_freed:
        if p.pollutant in POLLUTANTS and tonnes_to_kg(p.amount_t) > 0:
            freed[p.pollutant] = freed.get(p.pollutant, 0) + tonnes_to_kg(p.amount_t)
    if VOCS not in freed and tonnes_to_kg(e.vocs_freed_t) > 0:
        freed[VOCS] = tonnes_to_kg(e.vocs_freed_t)
    return freed


#: Why a permit was cancelled (注销), as the officer confirming the reclaim reads it.
CANCEL_REASONS = {reason: zh for reason, (_, zh) in CANCEL_REASON_WORDS.items()}


def cancel_note(e: PermitCancelled) -> str:
    """A reclaim candidate's note for a cancelled permit, in Chinese: the
    officers read it in the workbench (it used to say "cancelled: closure")."""
    note = (
        f"{e.enterprise_name}（{e.permit_no}）许可证注销：{CANCEL_REASONS.get(e.reason, e.reason)}"
    )
    return note + (f"；{e.note}" if e.note else "")


def change_note(e: PermitChanged) -> str:
    """A reclaim candidate's note for a permit amended downwards, in Chinese."""
    return f"{e.enterprise_name}（{e.permit_no}）许可证变更" + (f"：{e.reason}" if e.reason else "")


async def _backings(s: AsyncSession, permit_id: str) -> dict[str, PermitBacking]:
    """The permit's reclaimable ceilings by pollutant, locked."""
    rows = await s.scalars(
        select(PermitBacking)
        .where(PermitBacking.permit_id == permit_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {r.pollutant: r for r in rows}


def _known(rows: dict[str, PermitBacking], pollutant: str) -> reclaim_rules.Backing | None:
    row = rows.get(pollutant)
    return reclaim_rules.Backing(row.amount_kg, row.backed_kg) if row is not None else None


def _keep(
    s: AsyncSession,
    rows: dict[str, PermitBacking],
    permit_id: str,
    district: str,
    pollutant: str,
    b: reclaim_rules.Backing,
    event_id: str,
) -> None:
    row = rows.get(pollutant)
    if row is None:
        row = rows[pollutant] = PermitBacking(
            permit_id=permit_id, pollutant=pollutant, district=district
        )
        s.add(row)
    row.amount_kg, row.backed_kg = b.amount_kg, b.backed_kg
    row.last_event_id, row.updated_at = event_id, utcnow()


def _freed(rows: dict[str, PermitBacking], pollutant: str, r: Reclaim, made: bool) -> None:
    """Count a candidate just `made` from the permit's event in what the
    permit freed (an export's import checks the candidates by it); one
    found from before (a redelivered event) was counted then."""
    row = rows.get(pollutant)
    if row is not None and made:
        row.freed_kg = (row.freed_kg or 0) + r.amount_kg


def _seen(rows: dict[str, PermitBacking], env: Envelope) -> bool:
    """The event already applied to the permit's ceilings (redelivered)."""
    return any(r.last_event_id == env.id for r in rows.values())


async def track_issued(s: AsyncSession, e: PermitIssued, env: Envelope) -> None:
    """A permit issued or an existing certificate imported: its amounts are
    the reclaimable ceiling of each kept pollutant (the first issue counts;
    a row the ledger already has is left as it is)."""
    rows = await _backings(s, e.permit_id)
    for p in e.pollutants:
        if p.pollutant in POLLUTANTS and p.pollutant not in rows:
            b = reclaim_rules.issued_backing(tonnes_to_kg(p.amount_t))
            _keep(s, rows, e.permit_id, e.district, p.pollutant, b, env.id)


async def reclaim_on_cancel(s: AsyncSession, e: PermitCancelled, env: Envelope) -> None:
    """One candidate per pollutant the closed permit frees (VOCs, NOx, COD,
    NH3-N): its reclaimable ceiling (what the plant held or quota backed),
    never more than announced; a permit the ledger has no record of frees
    the amount announced. Every ceiling of the permit is then 0."""
    rows = await _backings(s, e.permit_id)
    if _seen(rows, env):
        return
    announced = _freed_per_pollutant(e)
    freed_by_pollutant = {
        pollutant: reclaim_rules.freed_on_cancel(_known(rows, pollutant), amount)
        for pollutant, amount in announced.items()
    }
    for pollutant in sorted(set(rows) | set(announced)):
        _keep(s, rows, e.permit_id, e.district, pollutant, reclaim_rules.Backing(0, 0), env.id)
    for pollutant, freed in freed_by_pollutant.items():
        if not reclaim_rules.is_reclaimable_cancellation(e.reason, freed):
            continue
        _check_district(e.district)
        # A permit is cancelled once: its candidates are keyed by the permit too.
        existing = await s.scalar(
            select(Reclaim.id).where(
                Reclaim.permit_id == e.permit_id,
                Reclaim.pollutant == pollutant,
                Reclaim.source == reclaim_rules.ReclaimSource.PERMIT_CANCELLED.value,
            )
        )
        if existing is not None:
            continue
        r, made = await add_candidate(
            s,
            Candidate(
                district=e.district,
                pollutant=pollutant,
                amount_kg=freed,
                source=reclaim_rules.ReclaimSource.PERMIT_CANCELLED,
                uscc=e.uscc,
                permit_id=e.permit_id,
                source_event_id=env.id,
                note=cancel_note(e),
                reason=reclaim_rules.cancel_reason(e.reason),
                entered_by=e.actor,
            ),
            SYSTEM,
        )
        _freed(rows, pollutant, r, made)


async def reclaim_on_change(s: AsyncSession, e: PermitChanged, env: Envelope) -> None:
    """A decrease of a kept pollutant on a permit is a candidate for the
    backed tonnes it takes away (`reclaim_rules.after_change`): never more
    than the permit's reclaimable ceiling, so an increase no quota backed
    and its cut make nothing. A trade's amendment frees nothing (the sold
    rights went to the buyer, not the pool); it moves the ceilings."""
    trade = bool(e.trade_id)
    rows = await _backings(s, e.permit_id)
    if _seen(rows, env):
        return
    freed_by_pollutant: dict[str, int] = {}
    for c in e.pollutant_changes:
        if c.pollutant not in POLLUTANTS or c.pollutant in freed_by_pollutant:
            continue
        known = _known(rows, c.pollutant)
        if known is not None and known.amount_kg != tonnes_to_kg(c.before_t):
            # Not from the amount the ledger knows: a change applied before
            # later ones, again (replayed after the inbox forgot it). Applied
            # again, it would move the ceiling back and free what is held.
            log.warning(
                "permit change not from the amount kept: not applied again",
                permit_id=e.permit_id,
                pollutant=c.pollutant,
                event_id=str(env.id),
            )
            freed_by_pollutant[c.pollutant] = 0
            continue
        b, freed = reclaim_rules.after_change(
            known,
            tonnes_to_kg(c.before_t),
            tonnes_to_kg(c.after_t),
            pollutant=c.pollutant,
            trade=trade,
        )
        _keep(s, rows, e.permit_id, e.district, c.pollutant, b, env.id)
        freed_by_pollutant[c.pollutant] = freed
    delta = tonnes_to_kg(e.vocs_delta_t)
    if VOCS not in freed_by_pollutant and delta:
        # An event naming VOCs by its delta alone (sent before per-pollutant changes).
        known = _known(rows, VOCS)
        if known is None:
            freed_by_pollutant[VOCS] = 0 if trade else reclaim_rules.reclaim_from_change(delta)
        else:
            after = max(0, known.amount_kg + delta)
            b, freed_by_pollutant[VOCS] = reclaim_rules.after_change(
                known, known.amount_kg, after, pollutant=VOCS, trade=trade
            )
            _keep(s, rows, e.permit_id, e.district, VOCS, b, env.id)
    if trade:
        return
    for pollutant, freed in freed_by_pollutant.items():
        if not freed:
            continue
        _check_district(e.district)
        r, made = await add_candidate(
            s,
            Candidate(
                district=e.district,
                pollutant=pollutant,
                amount_kg=freed,
                source=reclaim_rules.ReclaimSource.PERMIT_CHANGED,
                uscc=e.uscc,
                permit_id=e.permit_id,
                source_event_id=env.id,
                note=change_note(e),
                entered_by=e.actor,
            ),
            SYSTEM,
        )
        _freed(rows, pollutant, r, made)


def build_handlers(default: Policy) -> EventHandlers:
    """The handlers of one app; `default` is the policy where no district
    setting is in force (from the service settings)."""
    handlers = EventHandlers()

    async def on_quota_request(
        s: AsyncSession, e: FilingAccepted | FilingQuotaRetry, env: Envelope
    ) -> None:
        if isinstance(e, FilingQuotaRetry) and e.allocate_on_hold:
            await reallocate_for_filing(s, e, default)
        else:
            await reserve_for_filing(s, e, default)

    # The saga's path: a hold is DriverStatements and one combined write
    # (see reservations.reserve); a rarer answer (a hold found, a refusal)
    # runs again in a session.
    handlers.on(FilingAccepted, FilingQuotaRetry, on_driver=True)(on_quota_request)

    async def on_approved(s: AsyncSession, e: FilingApproved, env: Envelope) -> None:
        await allocate_for_filing(s, e, env, default)

    handlers.on(FilingApproved)(on_approved)
    handlers.on(FilingRejected, FilingWithdrawn)(release_for_filing)
    handlers.on(ParkRegistered)(carve_park_subpool)
    handlers.on(PermitIssued)(track_issued)
    handlers.on(PermitCancelled)(reclaim_on_cancel)
    handlers.on(PermitChanged)(reclaim_on_change)
    return handlers
