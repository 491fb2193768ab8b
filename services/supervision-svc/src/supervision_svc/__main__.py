"""Run supervision-svc alone: `python -m supervision_svc`, configured only by
env (DATABASE_URL, EVENT_TRANSPORT, JWT_SECRET or JWT_JWKS_URL, HOST, PORT)."""

from __future__ import annotations

import uvicorn

from supervision_svc.app import create
from supervision_svc.settings import Settings


def main() -> None:
    settings = Settings()
    uvicorn.run(create(settings), host=settings.host, port=settings.port, log_config=None)


if __name__ == "__main__":
    main()
