"""The chaos suite: the distributed mode with replicas under a bounded mixed
load, with faults injected (broker stopped, replicas killed, PostgreSQL
restarted under a backlog, a crash between commit and answer, a replica
joining), then the invariants checked once everything has drained.

`make chaos` runs the full profile; `tests/test_chaos.py` runs the bounded
one inside `make test`. Sizes are CHAOS_* settings (see `settings`)."""
