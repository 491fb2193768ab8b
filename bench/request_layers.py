"""Where a write request's CPU floor lies, layer by layer: the same small
POST (a reservation's body, a bearer token) answered by

  asgi     uvicorn (uvloop, httptools) and a bare ASGI callable;
  fastapi  FastAPI alone: routing, the body model, a JSON answer;
  service  quota-svc's whole app: middleware (ids, logs, metrics, guard,
           Idempotency-Key), token and role, error handlers; no database.

Each runs in its own process, driven by wrk; the server's CPU per request is
read from /proc. Run: .venv/bin/python bench/request_layers.py [--seconds 8]
Not part of `make bench`: it explains the quota write's figure, it has no aim.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from measure import stop_on_sigterm, tree_cpu_seconds
from quota_reservations import DISTRICT_CODES, ROOT, free_port
from svc_common.auth import mint_token
from svc_common.settings import DEV_JWT_SECRET

LAYERS = ("asgi", "fastapi", "service")
LUA = """
wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH")
wrk.body = '{"district":"120119","increment_t":"0.005","project_ref":"p-1"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
"""
SERVE = (
    "import sys, uvicorn; sys.path.insert(0, 'bench'); import layers_app;"
    " uvicorn.run(layers_app.app(), host='127.0.0.1', port={port}, loop='uvloop',"
    " http='httptools', log_level='warning', access_log=False)"
)


def measure(layer: str, seconds: float, tmp: Path) -> tuple[float, float]:
    """(requests per second, server CPU ms per request) of one layer."""
    port = free_port()
    env = {
        **os.environ,
        "LAYER": layer,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/{layer}.db",
        "LOG_LEVEL": "WARNING",
    }
    stop_on_sigterm()  # the `finally` below stops the server on SIGTERM too
    server = subprocess.Popen([sys.executable, "-c", SERVE.format(port=port)], cwd=ROOT, env=env)
    try:
        for _ in range(300):
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        path = "/quota/bench-echo" if layer == "service" else "/quota/reservations"
        token = mint_token(
            DEV_JWT_SECRET, sub="b.officer", role="officer", districts=DISTRICT_CODES
        )
        lua = tmp / "post.lua"
        lua.write_text(LUA)
        wrk_env = {**os.environ, "BENCH_PATH": path, "BENCH_TOKEN": token}
        base = f"http://127.0.0.1:{port}"
        subprocess.run(
            ["wrk", "-t2", "-c8", "-d2s", "-s", str(lua), base],
            env=wrk_env,
            capture_output=True,
            check=True,
        )
        before = tree_cpu_seconds(server.pid)
        out = subprocess.run(
            ["wrk", "-t2", "-c8", f"-d{seconds:.0f}s", "-s", str(lua), base],
            env=wrk_env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        cpu = tree_cpu_seconds(server.pid) - before
        n = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        if non2xx:
            raise RuntimeError(f"{layer}: {non2xx.group(1)} answers were not 2xx")
        return n / seconds, 1000 * cpu / n
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        for r in range(args.rounds):
            for layer in LAYERS:
                rate, ms = measure(layer, args.seconds, Path(d))
                print(
                    f"round {r + 1} {layer:<8} {rate:8.0f} req/s  {ms:6.3f} ms CPU/request",
                    flush=True,
                )


if __name__ == "__main__":
    main()
