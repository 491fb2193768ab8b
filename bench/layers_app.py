"""Apps for `bench/request_layers.py`: the same small POST answered by each
layer of a service's stack in turn, so the CPU each layer adds is measured
by difference. Not a service; only the bench imports it."""

from __future__ import annotations

import json
import os
from typing import Any

from fastapi import Depends, FastAPI
from quota_svc.reservations.schemas import ReservationIn
from svc_common.auth import Principal, require
from svc_common.tracing import FASTAPI_TELEMETRY

ANSWER = {"id": "00000000-0000-0000-0000-000000000000", "status": "held", "held_t": "0.010"}


async def bare_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The server's floor: read the body, answer a fixed JSON."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        event = await receive()
        more = event.get("more_body", False)
    body = json.dumps(ANSWER).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def bare_fastapi() -> FastAPI:
    """FastAPI alone: routing, the body model, the response model (its own
    telemetry off, as in every app of the project)."""
    app = FastAPI(telemetry=FASTAPI_TELEMETRY)

    @app.post("/quota/reservations", status_code=201)
    async def create(body: ReservationIn) -> dict[str, str]:
        return ANSWER

    return app


def service_stack() -> FastAPI:
    """quota-svc's whole app (middleware, token, roles, error handlers) with
    one more route that does what the reservation route does before its
    database work: the body, the principal, the district check."""
    from quota_svc.app import create
    from quota_svc.settings import Settings

    app = create(Settings())

    @app.post("/quota/bench-echo", status_code=201)
    async def echo(
        body: ReservationIn, principal: Principal = Depends(require("officer", "admin"))
    ) -> dict[str, str]:
        principal.require_district(body.district)
        return ANSWER

    # First in the route table: routing a request costs 35-60 µs more when
    # its route lies further down, and the write routes lie near the top.
    app.router.routes.insert(0, app.router.routes.pop())
    return app


def app() -> Any:
    return {"asgi": lambda: bare_asgi, "fastapi": bare_fastapi, "service": service_stack}[
        os.environ["LAYER"]
    ]()
