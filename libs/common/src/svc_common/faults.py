"""Crash points for fault-injection tests (chaos, crash-safety tests): a
process started with `FAULT_CRASH_AFTER_COMMIT=<path>` dies (like kill -9)
right after committing a write request to that path and before answering,
once: `FAULT_MARKER=<file>` records that it happened so the restarted
process runs normally. Unset — always, outside such tests — it costs one
dictionary look-up per write request."""

from __future__ import annotations

import os


def crash_after_commit(path: str) -> None:
    target = os.environ.get("FAULT_CRASH_AFTER_COMMIT")
    if not target or target != path:
        return
    marker = os.environ.get("FAULT_MARKER")
    if marker:
        if os.path.exists(marker):
            return
        with open(marker, "w") as f:
            f.write(path)
    os._exit(137)
