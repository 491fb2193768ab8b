"""What a simulated city-year is made of: the workload and the faults.

Every knob is a setting (env `SIM_<NAME>`, e.g. `SIM_FILINGS=120`,
`SIM_FAULTS=none`), so a failing seed is replayed with the same mix. Fault
probabilities are per step of the scheduler or per operation (commit,
publish, delivery): faults strike where the system is busy."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DAY = 86_400.0
HOUR = 3_600.0


class SimConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIM_", extra="ignore")

    # --- how the run is made ------------------------------------------------
    #: "sqlite" (temporary files, the default) or "pg" (PostgreSQL databases
    #: made from templates on SIM_PG_ADMIN_URL or TEST_PG_ADMIN_URL).
    db: Literal["sqlite", "pg"] = "sqlite"
    pg_admin_url: str | None = None
    #: Where SQLite files go: a tmpfs is fastest (/dev/shm when present).
    tmp_dir: str | None = None
    #: Check the per-step invariants after every step (the end checks always run).
    check_every_step: bool = True
    #: Keep the databases of a failing seed for inspection.
    keep_failed: bool = False
    #: Stop a seed at its first violation (the step that broke it); off, the
    #: seed runs to its end and reports every violation.
    stop_at_first: bool = True
    #: quota-svc's group commit (POOL_BATCH_MAX, on PostgreSQL): None keeps
    #: the service's own. One process per service batches a pool's writes in
    #: one worker, so its reservations never race each other; 1 (one
    #: transaction per request) makes them race as two replicas' batches do.
    pool_batch_max: int | None = Field(None, ge=1)

    # --- the workload ---------------------------------------------------------
    days: int = Field(365, ge=1, le=3650, description="simulated days of activity")
    enterprises: int = Field(1200, ge=50, description="fixed sources imported at the start")
    existing_permits: int = Field(60, ge=0, description="certificates imported at the start")
    filings: int = Field(20, ge=0, description="report and report-form filings")
    permit_stories: int = Field(12, ge=0, description="imported permits changed, cancelled…")
    registrations: int = Field(6, ge=0, description="registrations filed in permit-svc")
    machine_filings: int = Field(6, ge=0, description="registration forms filed one by one")
    bulk_uploads: int = Field(2, ge=0, description="bulk uploads of registration forms")
    bulk_rows: int = Field(25, ge=1, le=500)
    audits: int = Field(4, ge=0, description="permit quality audits")
    ratio_changes: int = Field(3, ge=0, description="offset-ratio and hold-period changes")
    manual_reclaims: int = Field(4, ge=0, description="candidates entered by hand (four eyes)")
    manual_reservations: int = Field(3, ge=0, description="holds made through the quota API")
    parks: int = Field(2, ge=0, le=16)
    desk_rounds: int = Field(5, ge=0, description="reclaim-desk rounds over the year")
    reads: int = Field(3, ge=0, description="availability, overdue and reminder reads")
    enforcements: int = Field(3, ge=0, description="inspections with a finding and a case")
    #: Busy moments: this many times a year, several officers of one district
    #: reserve quota for their projects within the same second (a quota round
    #: opening), racing for one pool.
    rushes: int = Field(2, ge=0)
    rush_size: int = Field(6, ge=2, le=50)
    #: Share of filings whose applicant withdraws moments after acceptance
    #: (the race of a withdrawal with quota-svc's answer).
    quick_withdraw: float = Field(0.12, ge=0, le=1)

    # --- the faults -----------------------------------------------------------
    #: A preset: "none" (no fault), "default", "heavy". Individual settings
    #: below override the preset where given.
    faults: Literal["none", "default", "heavy"] = "default"
    #: Per step: a service's process is killed between two operations.
    kill: float | None = None
    #: Per commit, per publish, per applied message: the process dies right there.
    crash_after_commit: float | None = None
    crash_after_publish: float | None = None
    crash_before_offset_commit: float | None = None
    #: Per step: a service's database becomes unreachable for up to
    #: `db_outage_max_seconds`; the broker goes down or turns flaky.
    db_outage: float | None = None
    db_outage_max_seconds: float | None = None
    broker_outage: float | None = None
    broker_flaky: float | None = None
    duplicate_delivery: float | None = None
    concurrent_redelivery: float | None = None
    delayed_delivery: float | None = None
    #: Probability that a step runs together with the steps due in the next
    #: seconds, interleaving at every database call (a busy moment).
    concurrency: float | None = None

    # --- after the year ----------------------------------------------------------
    #: How long after the faults stop every saga must have reached a final
    #: state and every outbox drained (simulated seconds).
    settle_seconds: float = Field(HOUR / 2, gt=0)
    #: Sweepers (hold and permit expiry) run this often during the year; in
    #: the settling window they run at their own configured periods.
    sweep_every_seconds: float = Field(7 * DAY, gt=0)
    #: Retention sweeps during the year (their own period in the settling time).
    retention_every_seconds: float = Field(30 * DAY, gt=0)
    #: Periodic jobs that only check or report (they change nothing the
    #: invariants read) run this seldom during the year.
    occasional_jobs: dict[str, float] = Field(default_factory=lambda: {"reconcile_all": 60 * DAY})
    #: In the settling time no sweeper runs more often than this.
    settle_min_period_seconds: float = Field(60.0, gt=0)
    partitions: int = Field(3, ge=1, le=64)

    def fault(self, name: str) -> float:
        """The effective value of a fault setting: the override, else the preset's."""
        value = getattr(self, name)
        if value is not None:
            return float(value)
        return float(PRESETS[self.faults][name])


PRESETS: dict[str, dict[str, float]] = {
    "none": {
        "kill": 0,
        "crash_after_commit": 0,
        "crash_after_publish": 0,
        "crash_before_offset_commit": 0,
        "db_outage": 0,
        "db_outage_max_seconds": 0,
        "broker_outage": 0,
        "broker_flaky": 0,
        "duplicate_delivery": 0,
        "concurrent_redelivery": 0,
        "delayed_delivery": 0,
        "concurrency": 0,
    },
    "default": {
        "kill": 0.003,
        "crash_after_commit": 0.003,
        "crash_after_publish": 0.004,
        "crash_before_offset_commit": 0.01,
        "db_outage": 0.002,
        "db_outage_max_seconds": 120,
        "broker_outage": 0.0015,
        "broker_flaky": 0.0015,
        "duplicate_delivery": 0.02,
        "concurrent_redelivery": 0.01,
        "delayed_delivery": 0.05,
        "concurrency": 0.1,
    },
    "heavy": {
        "kill": 0.01,
        "crash_after_commit": 0.015,
        "crash_after_publish": 0.02,
        "crash_before_offset_commit": 0.04,
        "db_outage": 0.008,
        "db_outage_max_seconds": 900,
        "broker_outage": 0.005,
        "broker_flaky": 0.005,
        "duplicate_delivery": 0.08,
        "concurrent_redelivery": 0.04,
        "delayed_delivery": 0.15,
        "concurrency": 0.3,
    },
}
