"""A city-year of the bureau's work, played by its users through the HTTP API.

Sixteen districts; thousands of fixed sources imported on the first day
with the certificates already issued; then, spread over the year, report and
report-form filings on every channel (normal, green, bundled) accepted,
evaluated, reviewed, approved or rejected, withdrawn (some moments after
acceptance), retried when quota is short or a hold lapsed; approved projects'
permits issued; permits changed, suspended, renewed, revoked and cancelled
(closures free quota that officers confirm); candidates entered by hand and
confirmed by a second officer; registrations filed and changed; registration
forms filed by machines, one by one and in bulk, with replays; quality audits
and rectifications; offset-ratio and hold-period changes; reads.

Each user's story is an async generator: it makes one request at a time and
yields how long to wait before its next step. All choices come from the
seed's workload stream."""

from bureau_sim.workload.base import Workload

__all__ = ["Workload"]
