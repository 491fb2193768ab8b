"""One chaos run: the distributed mode with replicas, the load, the faults,
the drain, the invariants and the figures."""

from __future__ import annotations

import asyncio
import random
import re
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

from bureau.chaos import checks
from bureau.chaos.client import Api, Stats
from bureau.chaos.faults import Monkey, crash_env
from bureau.chaos.load import DISTRICTS, JWT_SECRET, World, generate, setup
from bureau.chaos.settings import ChaosSettings
from bureau.stack import SERVICES, Stack

_DUPLICATES = re.compile(r"^events_duplicate_total\{[^}]*\} ([0-9.e+]+)$", re.M)
#: A handler that failed other than on infrastructure (retried in process,
#: dead-lettered after its attempts): a bug, even when a retry then applied it.
_PERMANENT = re.compile(
    r'^events_handler_failures_total\{([^}]*kind="permanent"[^}]*)\} ([0-9.e+]+)$', re.M
)


@dataclass
class Report:
    settings: dict[str, Any]
    passed: bool = False
    seconds: dict[str, float] = field(default_factory=dict)
    stories: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    answers: dict[str, int] = field(default_factory=dict)
    answers_by_phase: dict[str, dict[str, int]] = field(default_factory=dict)
    answers_by_service: dict[str, dict[str, int]] = field(default_factory=dict)
    no_answer: dict[str, int] = field(default_factory=dict)
    no_answer_by_phase: dict[str, dict[str, int]] = field(default_factory=dict)
    retries: int = 0
    replayed: int = 0
    four_eyes_refusals: int = 0
    faults: list[dict[str, Any]] = field(default_factory=list)
    duplicates_absorbed: int = 0
    duplicates_by_phase: dict[str, int] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)
    log_dir: str = ""

    def summary(self) -> str:
        lines = [f"chaos run ({self.settings['profile']}): {'PASSED' if self.passed else 'FAILED'}"]
        s = {k: self.seconds.get(k, float("nan")) for k in ("start", "load", "drain", "check")}
        lines.append(
            "time: stack up {start:.0f} s, load {load:.0f} s, drained {drain:.1f} s after "
            "the load stopped, checks {check:.0f} s, {total:.0f} s in all".format(
                total=self.seconds.get("total", float("nan")), **s
            )
        )
        lines.append(
            "stories: "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.stories.items()))
            + f"; four-eyes refusals {self.four_eyes_refusals}"
        )
        lines.append("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items())))
        total = sum(self.answers.values())
        lines.append(
            f"answers: {total} — " + ", ".join(f"{k}: {v}" for k, v in sorted(self.answers.items()))
        )
        for phase, counts in self.answers_by_phase.items():
            lines.append(
                f"  during {phase}: " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
            )
        lines.append(
            f"no answer (retried): {sum(self.no_answer.values())} "
            + str(dict(self.no_answer))
            + f"; retries {self.retries}; writes answered by replay of their key {self.replayed}"
        )
        for phase, why in self.no_answer_by_phase.items():
            lines.append(f"  during {phase}: {why}")
        for f in self.faults:
            extra = f" {f['detail']}" if f["detail"] else ""
            back = "never" if f["seconds"] is None else f"{f['seconds']:.1f} s"
            # A graceful stop's figure is how long the replica took to stop.
            what = "stopped after" if f["name"].startswith("graceful") else "answering again after"
            lines.append(
                f"fault: {f['name']} — {f['target']} at {f['at_s']:.0f} s, {what} {back}{extra}"
            )
        ev = self.figures.get("events", {})
        lines.append(
            f"events: {ev.get('written')} written, published twice {ev.get('published_twice')}, "
            f"redeliveries absorbed by the inbox ≥ {self.duplicates_absorbed}, "
            f"quota requests asked again {self.figures.get('reasks')}"
        )
        lines.append(f"  redeliveries by phase: {self.duplicates_by_phase}")
        if stale := self.figures.get("groups_stale_before_roll"):
            lines.append(f"  consumer groups not handed over as the rolling deploy began: {stale}")
        lines.append(f"filings (status/quota): {self.figures.get('filings')}")
        lines.append(
            f"reservations: {self.figures.get('reservations')}, "
            f"permit drafts {self.figures.get('permit_drafts')}"
        )
        for c in self.checks:
            mark = "ok  " if c["ok"] else "FAIL"
            lines.append(f"  [{mark}] {c['name']}" + ("" if c["ok"] else f": {c['detail']}"))
        lines.append(f"logs: {self.log_dir}")
        return "\n".join(lines)


async def position_groups_at_end(bootstrap: str, types: dict[str, set[str]]) -> None:
    """Start the services' consumer groups where the topics end now: what an
    earlier run on the same broker left there is not this run's."""
    from svc_common.events.registry import load_all

    registry = load_all()
    for svc, handled in types.items():
        topics = sorted({m.topic for t in handled if (m := registry.model_for(t)) is not None})
        ends = await checks.topic_ends(bootstrap, topics)
        if not ends:
            continue
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=checks.GROUPS[svc], enable_auto_commit=False
        )
        await consumer.start()
        try:
            consumer.assign(list(ends))
            await consumer.commit(dict(ends))
        finally:
            await consumer.stop()


class Scraper:
    """Keeps, per process, the last count of redeliveries its inbox skipped,
    and in which phase of the plan they came (a killed process takes the
    count of its last seconds with it: the total is a lower bound)."""

    def __init__(self, stack: Stack, stats: Stats) -> None:
        self.stack = stack
        self.stats = stats
        self.seen: dict[tuple[str, int], float] = {}
        self.by_phase: Counter[str] = Counter()
        #: (instance, pid, labels) → permanent handler failures seen.
        self.permanent: dict[tuple[str, int, str], int] = {}

    async def scrape(self) -> None:
        async with httpx.AsyncClient(timeout=2) as c:
            for instance in list(self.stack.ports):
                pid = self.stack.pid(instance)
                if pid is None or instance in self.stack.paused:
                    continue
                try:
                    r = await c.get(f"{self.stack.url(instance)}/metrics")
                except httpx.HTTPError:
                    continue
                total = sum(float(v) for v in _DUPLICATES.findall(r.text))
                before = self.seen.get((instance, pid), 0.0)
                if total > before:
                    self.seen[(instance, pid)] = total
                    self.by_phase[self.stats.phase] += int(total - before)
                for labels, v in _PERMANENT.findall(r.text):
                    if float(v) > 0:
                        self.permanent[(instance, pid, labels)] = int(float(v))

    async def run(self, every: float = 2.0) -> None:
        while True:
            await self.scrape()
            await asyncio.sleep(every)

    @property
    def total(self) -> int:
        return int(sum(self.seen.values()))

    async def settled(self, within: float = 30.0, every: float = 1.0) -> None:
        """Scrape until two scrapes in a row find no new redelivery (or
        `within` seconds pass): the redeliveries of the faults so far (a
        replica killed mid-batch, its partitions handed over) are then
        counted in their own phases, not in the next one's."""
        until = time.monotonic() + within
        quiet = 0
        while quiet < 2 and time.monotonic() < until:
            before = self.total
            await asyncio.sleep(every)
            await self.scrape()
            quiet = quiet + 1 if self.total == before else 0


async def handed_over(stack: Stack, bootstrap: str, within: float = 45.0) -> dict[str, str]:
    """Wait until every consumer group holds only its live replicas, as
    the broker's coordinator has it (or `within` seconds pass: the groups
    still stale then, and how). A replica killed with -9 stays a member
    until its session expires (10 s); only then are its partitions given to
    another, which is sent again what the dead one applied but had not
    committed. Those redeliveries are the kill's: a graceful stop started
    before they come would be blamed for them."""
    groups = {checks.GROUPS[svc]: svc for svc in stack.services}
    until = time.monotonic() + within
    while True:
        live = {
            g: sum(1 for i in stack.instances(svc) if stack.alive(i)) for g, svc in groups.items()
        }
        try:
            stale = checks.stale_groups(await checks.group_members(bootstrap, list(groups)), live)
        except Exception as exc:  # the broker not answering: said, and waited on
            stale = {"*": repr(exc)[:200]}
        if not stale or time.monotonic() > until:
            return stale
        await asyncio.sleep(1.0)


ROLLING = "rolling deploy"


def graceful_problems(monkey: Monkey, stats: Stats, scraper: Scraper) -> list[str]:
    """What a graceful stop must not do while a rolling deploy runs: stop
    listening before it says it is not ready, leave a request it was sent
    unanswered (refused, reset, timed out) between its SIGTERM and its exit,
    answer 5xx but 503 with Retry-After, hand its partitions over with
    applied messages uncommitted (the next owner is given them again) or
    publish an event twice (the same)."""
    problems = []
    if monkey.refused_first:
        problems.append(
            "stopped listening before /ready answered 503: "
            + ", ".join(f"{i} ({why})" for i, why in sorted(monkey.refused_first.items()))
        )
    for instance, url, since, until in monkey.stopping:
        lost = Counter(
            why for at, base, why in stats.failures if base == url and since <= at <= until + 1
        )
        if lost:
            problems.append(f"{instance}: no answer to {dict(lost)} while it stopped")
    problems += [
        f"{n} answers 503 with no Retry-After during {phase}"
        for phase, n in stats.bare_503.items()
        if phase.endswith(ROLLING) and n
    ]
    problems += [
        f"{n} messages delivered again during {phase}"
        for phase, n in scraper.by_phase.items()
        if phase.endswith(ROLLING) and n
    ]
    return problems + monkey.graceful_problems


async def run(
    settings: ChaosSettings,
    *,
    pg_admin_url: str,
    kafka_bootstrap: str,
    kafka_ctl: str,
    pg_ctl: str,
    work_dir: Path,
) -> Report:
    work_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before anything runs
    report = Report(settings=settings.describe(), log_dir=str(work_dir / "logs"))
    t_begin = time.monotonic()
    services = tuple(
        svc for svc in SERVICES if svc != "supervision" or settings.supervision_replicas > 0
    )
    types = checks.handled_types(services)
    marks = await checks.topic_ends(kafka_bootstrap, checks.all_topics())
    await position_groups_at_end(kafka_bootstrap, types)
    crash_instance = f"eia-{settings.eia_replicas}"
    crash_marker = work_dir / "crashed-after-commit"
    crash_marker.unlink(missing_ok=True)
    stack = Stack(
        pg_admin_url=pg_admin_url,
        kafka_bootstrap=kafka_bootstrap,
        jwt_secret=JWT_SECRET,
        log_dir=work_dir / "logs",
        db_prefix=f"chaos{uuid.uuid4().hex[:6]}",
        services=services,
        replicas={
            "quota": settings.quota_replicas,
            "eia": settings.eia_replicas,
            "permit": settings.permit_replicas,
            "supervision": settings.supervision_replicas,
        },
        extra_env={"LOG_LEVEL": settings.log_level},
        instance_env={crash_instance: crash_env(str(crash_marker))},
    )
    stats = Stats()
    api = Api(
        stack,
        stats,
        concurrency=settings.http_concurrency,
        deadline=settings.request_deadline_seconds,
        timeout=settings.client_timeout_seconds,
    )
    world = World(api, DISTRICTS[: settings.districts], random.Random(settings.seed))
    scraper = Scraper(stack, stats)
    stale_before_roll: dict[str, str] = {}

    async def settled() -> None:
        stale_before_roll.update(await handed_over(stack, kafka_bootstrap))
        await scraper.settled()

    tasks: list[asyncio.Task[Any]] = []
    monkey = Monkey(
        stack,
        settings,
        stats,
        kafka_ctl=kafka_ctl,
        pg_ctl=pg_ctl,
        crash_instance=crash_instance,
        crash_marker=str(crash_marker),
        settled=settled,
    )
    fault_error: str | None = None
    try:
        await stack.start(within=180)
        t_up = time.monotonic()
        report.seconds["start"] = t_up - t_begin
        await setup(world)
        tasks.append(asyncio.create_task(scraper.run()))
        stop = asyncio.Event()
        load = asyncio.create_task(
            generate(world, settings.stories_per_second, settings.max_inflight, stop)
        )
        try:
            await monkey.run()
            await asyncio.sleep(settings.tail_seconds)
        except Exception as exc:
            fault_error = f"a fault could not be injected or undone: {exc!r}"
        finally:
            stop.set()
        running = await load
        t_stopped = time.monotonic()
        report.seconds["load"] = t_stopped - t_up
        world.waits_until = t_stopped + settings.drain_seconds
        if running:
            _, late = await asyncio.wait(running, timeout=settings.drain_seconds)
            for t in late:
                t.cancel()
            if late:
                world.errors.append(f"{len(late)} stories unfinished at the drain deadline")
        while left := await checks.unsettled(stack, types):
            if time.monotonic() > world.waits_until:
                world.errors.append(f"not drained in {settings.drain_seconds:.0f} s: {left}")
                break
            await asyncio.sleep(1.0)
        t_drained = time.monotonic()
        report.seconds["drain"] = t_drained - t_stopped
        await scraper.scrape()
        try:
            state = await checks.gather(stack, World.admin(), marks)
        except Exception as exc:  # a server still down: the run fails, with why
            findings = checks.Findings()
            findings.add("the services' state could be read", [repr(exc)[:500]])
        else:
            checks.attach_causes(stats.server_errors, stack.log_dir)
            findings = checks.judge(state, world, stats, types)
        findings.add(
            "handlers failed only on infrastructure",
            [f"{i}: {n} × {labels}" for (i, _pid, labels), n in scraper.permanent.items()],
        )
        findings.add(
            "the API stays ready while the broker is down",
            [
                f"{i}: /ready answered {code}"
                for i, code in monkey.ready_during_outage.items()
                if code != 200
            ]
            or ([] if monkey.ready_during_outage else ["no replica was probed"]),
        )
        if settings.roll:
            findings.add(
                "a rolling deploy answers every request and hands over cleanly",
                graceful_problems(monkey, stats, scraper),
            )
        if fault_error:
            findings.add("faults injected and undone", [fault_error])
        report.seconds["check"] = time.monotonic() - t_drained
        report.checks = [asdict(c) for c in findings.checks]
        report.figures = findings.figures
        if stale_before_roll:
            report.figures["groups_stale_before_roll"] = stale_before_roll
        report.passed = not findings.failed
    finally:
        for t in tasks:
            t.cancel()
        await api.aclose()
        # Whatever happened, leave the servers running as they were found.
        await monkey.restore()
        stack.stop()
    report.seconds["total"] = time.monotonic() - t_begin
    report.stories = dict(world.stories)
    report.outcomes = dict(world.outcomes)
    report.answers = {str(k): v for k, v in sorted(stats.statuses.items())}
    report.answers_by_phase = {
        p: {str(k): v for k, v in sorted(c.items())} for p, c in stats.by_phase.items()
    }
    report.answers_by_service = {
        svc: {str(k): v for k, v in sorted(c.items())} for svc, c in stats.by_service.items()
    }
    report.no_answer = dict(stats.no_answer)
    report.no_answer_by_phase = {p: dict(c) for p, c in stats.no_answer_by_phase.items()}
    report.retries = stats.retries
    report.replayed = stats.replays
    report.four_eyes_refusals = world.four_eyes_refusals
    report.faults = [asdict(f) for f in monkey.faults]
    report.duplicates_absorbed = scraper.total
    report.duplicates_by_phase = dict(scraper.by_phase)
    return report
