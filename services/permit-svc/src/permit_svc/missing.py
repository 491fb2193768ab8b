"""How each record not found is said: one message per kind, given alike
for a record that does not exist and for another district's
(`Principal.require_found`), so that the two answers are the same."""

from __future__ import annotations

from svc_common.i18n import msg


def no_enterprise(uscc: str) -> str:
    return msg(f"no enterprise {uscc}", f"没有企业 {uscc}")


def no_permit(permit_id: str) -> str:
    return msg(f"no permit {permit_id}", f"没有排污许可证 {permit_id}")


def no_registration(registration_id: str) -> str:
    return msg(f"no registration {registration_id}", f"没有排污登记 {registration_id}")


def no_audit(audit_id: str) -> str:
    return msg(f"no audit {audit_id}", f"没有许可质量审核 {audit_id}")


def no_parked_filing(filing_id: str) -> str:
    return msg(
        f"no approved filing {filing_id} waits to be drafted here",
        f"没有待起草许可申请的环评批复 {filing_id}",
    )
