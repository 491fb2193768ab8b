"""`/<prefix>/admin/clock`: read the system's clock; move a manual clock.

Only a manual clock (`CLOCK=manual`, the embedded default's demonstration
mode, or the simulator) can be moved, by an administrator, forwards only.
Moving it runs every service's sweepers at the new time (hold expiry, permit
expiry, overdue marking…), so what the new date implies is visible at once.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from svc_common import clock
from svc_common.auth import Principal, require, require_citywide
from svc_common.clock import DURATION_PATTERN
from svc_common.errors import Conflict, field_error
from svc_common.i18n import msg
from svc_common.types import AwareDateTime


class ClockMove(BaseModel):
    """Either `advance` (an ISO 8601 duration such as P61D) or `to` (an instant)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"minProperties": 1, "maxProperties": 1}
    )

    advance: Annotated[
        str | None,
        WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "examples": ["P61D"]}),
    ] = Field(None, max_length=40)
    to: Annotated[
        AwareDateTime | None,
        WithJsonSchema({"type": "string", "format": "date-time"}),
    ] = None

    @field_validator("advance")
    @classmethod
    def _duration(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                clock.parse_duration(v)
            except ValueError as exc:
                raise ValueError(
                    msg(
                        str(exc),
                        "必须是 ISO 8601 时长，例如 P61D 或 PT5M"
                        "（周、天、时、分、秒；不接受年和月）",
                    )
                ) from exc
        return v


class ClockOut(BaseModel):
    now: dt.datetime
    mode: str
    flowing: bool


def _out() -> ClockOut:
    c = clock.current()
    manual = clock.manual()
    return ClockOut(
        now=c.now(),
        mode="manual" if manual else "system",
        flowing=bool(manual and manual.flowing),
    )


def clock_router(prefix: str) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get(f"{prefix}/admin/clock", response_model=ClockOut)
    async def read_clock(_: Principal = Depends(require("admin", "auditor"))) -> ClockOut:
        """The system's now and whether the clock is manual."""
        return _out()

    @router.post(f"{prefix}/admin/clock", response_model=ClockOut)
    async def move_clock(
        body: ClockMove, _: Principal = Depends(require_citywide("admin"))
    ) -> dict[str, Any] | ClockOut:
        """Move a manual clock forwards and run every sweeper at the new time."""
        manual = clock.manual()
        if manual is None:
            raise Conflict(
                msg(
                    "the system clock cannot be moved; start with CLOCK=manual",
                    "系统时钟不能调整；如需演示请以 CLOCK=manual 启动",
                )
            )
        if (body.advance is None) == (body.to is None):
            raise field_error(
                "advance", msg("give either advance or to", "advance 与 to 须且只须给出一个")
            )
        try:
            if body.advance is not None:
                await manual.advance(clock.parse_duration(body.advance))
            else:
                assert body.to is not None
                await manual.set_to(body.to)
        except ValueError as exc:
            # Going back is refused by the clock's state, not by the request's shape.
            raise Conflict(msg(str(exc), "时钟不能倒退")) from exc
        return _out()

    return router
