"""Run the console alone: `python -m console`, configured by env (PERMIT_URL,
QUOTA_URL, EIA_URL, SUPERVISION_URL, SESSION_SECRET, OIDC_*, HOST, PORT, SHUTDOWN_*). SIGTERM
stops it gracefully, as it does a service (`svc_common.graceful`)."""

from __future__ import annotations

import os
import sys

from svc_common import http_head
from svc_common.graceful import serve_draining
from svc_common.settings import DEV_JWT_SECRET

from console.app import create
from console.settings import Settings


def main() -> None:
    settings = Settings()
    if "SESSION_SECRET" not in os.environ:
        sys.exit("console: set SESSION_SECRET (the same on every replica) before starting it alone")
    if settings.dev_login and settings.jwt_secret == DEV_JWT_SECRET:
        sys.exit(
            "console: DEV_LOGIN would sign tokens with the public development secret; "
            "set JWT_SECRET (the services' own) or use OIDC_*"
        )
    serve_draining(
        create(settings),
        settings,
        host=settings.host,
        port=settings.port,
        log_config=None,
        # The request line of the app's RequestContextMiddleware replaces
        # uvicorn's access line, which would write each query string.
        access_log=False,
        proxy_headers=True,
        **http_head.uvicorn_options("auto", settings.max_head_bytes),
    )


if __name__ == "__main__":
    main()
