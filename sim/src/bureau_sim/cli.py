"""`make sim`: run seeds of the simulated city-year and report.

    python -m bureau_sim --seeds 1000          # seeds 1..1000
    python -m bureau_sim --seed 17 --trace t.txt  # replay one, write its trace

The workload and fault mixes are settings (SIM_* environment variables, see
bureau_sim.config). A failing seed prints the seed, the step and the
invariant; the same seed replays the same run exactly."""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from bureau_sim.config import SimConfig
from bureau_sim.run import FAULT_COUNTS, Result, Templates, run_seed


def _reexec_with_fixed_hash_seed() -> None:
    """Set iteration order depends on PYTHONHASHSEED: fix it so a seed
    replays the same in every process."""
    if os.environ.get("PYTHONHASHSEED") != "0":
        env = dict(os.environ, PYTHONHASHSEED="0")
        os.execve(sys.executable, [sys.executable, "-m", "bureau_sim", *sys.argv[1:]], env)


def _write(path: Path, text: str) -> None:
    path.write_text(text, "utf-8")


def _summary(results: list[Result], wall: float) -> str:
    stats: Counter[str] = Counter()
    for r in results:
        stats.update(r.stats)
    walls = [r.wall_seconds for r in results]
    failed = [r for r in results if not r.ok]
    lines = [
        f"seeds: {len(results)}, failed: {len(failed)}"
        + (f" ({', '.join(str(r.seed) for r in failed[:20])})" if failed else ""),
        f"steps: {sum(r.steps for r in results)}, requests: {stats['requests']}, "
        f"events published: {stats['events published by relays']}, "
        f"deliveries: {stats['deliveries']}, sweeps: {stats['sweeps']}",
        "faults injected: "
        + ", ".join(f"{k} {stats[k]}" for k in FAULT_COUNTS if stats[k])
        + f" (total {sum(r.faults for r in results)})",
        f"wall time per seed: mean {statistics.mean(walls):.2f} s, "
        f"max {max(walls):.2f} s; all: {wall:.1f} s",
    ]
    return "\n".join(lines)


async def _main(args: argparse.Namespace) -> int:
    cfg = SimConfig()
    if args.faults:
        cfg = cfg.model_copy(update={"faults": args.faults})
    if args.db:
        cfg = cfg.model_copy(update={"db": args.db})
    seeds = (
        [args.seed]
        if args.seed is not None
        else range(args.first, args.first + args.seeds * args.stride, args.stride)
    )
    templates = Templates(cfg)
    results: list[Result] = []
    started = time.perf_counter()
    try:
        for seed in seeds:
            if args.budget and time.perf_counter() - started >= args.budget * 60:
                print(
                    f"budget of {args.budget:g} min spent: {len(results)} of {len(seeds)} "
                    "seeds run, "
                    f"the last {results[-1].seed if results else '-'}",
                    flush=True,
                )
                break
            r = await run_seed(seed, cfg, templates, trace=args.trace is not None)
            results.append(r)
            if args.trace is not None and r.trace:
                _write(Path(args.trace), "\n".join(r.trace) + "\n")
            if not r.ok:
                first = r.violations[0]
                print(
                    f"seed {seed} FAILED at step {first.step} (day {first.at / 86400:.2f}): "
                    f"{first.invariant}",
                    flush=True,
                )
                for v in r.violations[:10]:
                    print(f"    {v}", flush=True)
                if len(r.violations) > 10:
                    print(f"    … and {len(r.violations) - 10} more", flush=True)
                print(f"    replay: make sim SEED={seed}", flush=True)
            elif args.seed is not None or args.verbose:
                print(
                    f"seed {seed} ok: {r.steps} steps, {r.requests} requests, "
                    f"{r.faults} faults, {r.wall_seconds:.2f} s",
                    flush=True,
                )
            if args.seed is not None:
                print(f"trace {r.trace_hash}", flush=True)
            if args.progress and len(results) % args.progress == 0 and args.seed is None:
                failed = sum(1 for x in results if not x.ok)
                spent = time.perf_counter() - started
                print(
                    f"… {len(results)} seeds, {failed} failed, {spent / len(results):.2f} s a seed",
                    flush=True,
                )
    finally:
        await templates.close()
    print(_summary(results, time.perf_counter() - started), flush=True)
    if args.coverage:
        total: Counter[str] = Counter()
        for r in results:
            total.update(r.coverage)
        for what, n in sorted(total.items()):
            print(f"  {n:7d}  {what}")
    return 0 if all(r.ok for r in results) else 1


def main() -> None:
    p = argparse.ArgumentParser(prog="bureau_sim", description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, help="run (replay) this one seed")
    p.add_argument("--seeds", type=int, default=12, help="how many seeds (default 12)")
    p.add_argument("--first", type=int, default=1, help="the first seed (default 1)")
    p.add_argument(
        "--stride", type=int, default=1, help="every Nth seed from --first (shards of one run)"
    )
    p.add_argument(
        "--budget",
        type=float,
        default=0,
        help="start no seed after this many minutes (0: no limit); the summary counts those run",
    )
    p.add_argument("--faults", choices=["none", "default", "heavy"], help="the fault preset")
    p.add_argument("--db", choices=["sqlite", "pg"], help="SQLite files or PostgreSQL")
    p.add_argument("--trace", help="write the trace of the (last) seed to this file")
    p.add_argument("-v", "--verbose", action="store_true", help="a line per seed")
    p.add_argument(
        "--coverage", action="store_true", help="what the city-years did, summed over the seeds"
    )
    p.add_argument("--progress", type=int, default=0, help="a line every N seeds")
    args = p.parse_args()
    _reexec_with_fixed_hash_seed()
    sys.exit(asyncio.run(_main(args)))
