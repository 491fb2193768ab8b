"""Payload schemas, one module per producing service (and its topic)."""

from svc_common.events.schemas import eia, permit, quota, supervision

__all__ = ["eia", "permit", "quota", "supervision"]
