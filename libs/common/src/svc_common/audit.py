"""Append-only audit trail: every state change records who, in which role,
did what to which target, with the request and correlation ids. Written in
the same transaction as the change, so one never exists without the other."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from svc_common import context
from svc_common.auth import SYSTEM_SUB, Principal
from svc_common.tables import AuditEntry
from svc_common.types import utcnow

#: The actor recorded for changes made by event handlers and sweepers.
SYSTEM = Principal(sub=SYSTEM_SUB, role="system")


def audit_row(
    actor: Principal,
    action: str,
    target_type: str,
    target_id: str,
    detail: dict[str, Any] | None,
) -> dict[str, Any]:
    """The audit_log row of a change, for `record_audit` or a caller that
    inserts it itself in the same transaction (e.g. in one combined statement)."""
    ctx = context.current()
    return {
        "at": utcnow(),
        "actor": actor.sub,
        "role": actor.role,
        "action": action,
        "target_type": target_type,
        "target_id": str(target_id),
        "request_id": ctx.request_id,
        "correlation_id": ctx.correlation_id,
        "detail": detail,
    }


def record_audit(
    session: AsyncSession,
    actor: Principal,
    action: str,
    target_type: str,
    target_id: str,
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(AuditEntry(**audit_row(actor, action, target_type, target_id, detail)))
