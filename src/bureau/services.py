"""The four services, by the name used in URLs, settings and commands
(`/quota/…`, QUOTA_DATABASE_URL, `--service quota`), and the Python package
that serves each. Every command that names services takes them from here."""

from __future__ import annotations

PACKAGES = {
    "permit": "permit_svc",
    "quota": "quota_svc",
    "eia": "eia_svc",
    "supervision": "supervision_svc",
}
SERVICES = tuple(PACKAGES)
