"""eia-svc's own figures on /eia/metrics: filings by quota status, how long
the oldest waits for quota-svc, blocked and overdue filings per district."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from eia_svc.app import reask_quota
from fastapi import FastAPI
from svc_common import clock, testing
from svc_common.types import utcnow

from ..conftest import BAODI, JIZHOU, filing, officer
from .test_filings_api import act, rejected


async def test_saga_and_clock_figures(make_app: Callable[..., FastAPI]) -> None:
    app = make_app()
    now = clock.ManualClock(utcnow())
    with clock.using(now):
        async with testing.running(app) as c:
            waiting = (await c.post("/eia/filings", json=filing(), headers=officer())).json()
            await act(c, waiting["id"], "accept")
            short = (await c.post("/eia/filings", json=filing(), headers=officer())).json()
            short = (await act(c, short["id"], "accept")).json()
            await c.post("/eia/filings", json=filing(), headers=officer())  # not accepted
            await testing.deliver(app, rejected(short, "0.5"))

            now.advance_now(dt.timedelta(minutes=10))
            samples = await testing.figures(app, c)
            assert testing.figure(samples, "eia_quota_pending_reasked") == 0
            by_status = {
                dict(labels)["quota_status"]: v
                for (n, labels), v in samples.items()
                if n == "eia_filings_by_quota_status"
            }
            assert by_status["pending"] == 1 and by_status["blocked"] == 1
            assert by_status["not_requested"] == 1 and by_status["allocated"] == 0
            age = testing.figure(samples, "eia_quota_pending_oldest_age_seconds")
            assert 600 <= age < 700, age
            assert testing.figure(samples, "eia_filings_blocked", district=JIZHOU) == 1
            assert testing.figure(samples, "eia_filings_blocked", district=BAODI) == 0
            assert testing.figure(samples, "eia_filings_overdue", district=JIZHOU) == 0
            # No answer came: the sweeper asks again; the filing still waits.
            assert await reask_quota(app.state.runtime) == 1
            samples = await testing.figures(app, c)
            assert testing.figure(samples, "eia_quota_pending_reasked") == 1
            assert testing.figure(samples, "eia_quota_pending_oldest_age_seconds") == 0

            # Past the report form's 30 days, however many days off end it.
            now.advance_now(dt.timedelta(days=40))
            samples = await testing.figures(app, c)
            assert testing.figure(samples, "eia_filings_overdue", district=JIZHOU) == 2
            # Withdrawn: no longer overdue.
            await act(c, waiting["id"], "withdraw")
            samples = await testing.figures(app, c)
            assert testing.figure(samples, "eia_filings_overdue", district=JIZHOU) == 1
