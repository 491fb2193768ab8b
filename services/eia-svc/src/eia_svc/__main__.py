"""Run eia-svc alone: `python -m eia_svc`, configured only by env
(DATABASE_URL, EVENT_TRANSPORT, JWT_SECRET or JWT_JWKS_URL, HOST, PORT)."""

from __future__ import annotations

from svc_common.service import serve

from eia_svc.app import create
from eia_svc.settings import Settings


def main() -> None:
    settings = Settings()
    serve(create(settings), settings)


if __name__ == "__main__":
    main()
