"""`make sim`: run seeds of the simulated city-year and report.

    python -m bureau_sim --seeds 1000          # seeds 1..1000
    python -m bureau_sim --seed 17 --trace t.txt  # replay one, write its trace

The workload and fault mixes are settings (SIM_* environment variables, see
bureau_sim.config). A failing seed prints the seed, the step and the
invariant; the same seed replays the same run exactly."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from bureau_sim.config import SimConfig
from bureau_sim.run import BUSY, CRASH_POINTS, FAULT_COUNTS, Result, Templates, run_seed
from bureau_sim.world import Violation


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
        + ", ".join(
            f"{k} {stats[k]}"
            + (
                " (of them " + ", ".join(f"{c} {stats[c]}" for c in CRASH_POINTS) + ")"
                if k == "crashes"
                else ""
            )
            for k in FAULT_COUNTS
            if stats[k] and k not in CRASH_POINTS and k != BUSY
        )
        + f" (total {sum(r.faults for r in results)}); {BUSY} {stats[BUSY]}",
        f"wall time per seed: mean {statistics.mean(walls):.2f} s, "
        f"max {max(walls):.2f} s; all: {wall:.1f} s",
    ]
    return "\n".join(lines)


def _dump(results: list[Result], path: Path) -> None:
    """What a shard hands its parent (--jobs): every seed's figures."""
    rows = [
        {
            "seed": r.seed,
            "violations": [asdict(v) for v in r.violations],
            "trace_hash": r.trace_hash,
            "steps": r.steps,
            "stats": dict(r.stats),
            "wall_seconds": r.wall_seconds,
            "requests": r.requests,
            "faults": r.faults,
            "coverage": dict(r.coverage),
        }
        for r in results
    ]
    path.write_text(json.dumps(rows), "utf-8")


def _load(path: Path) -> list[Result]:
    if not path.exists():
        return []
    return [
        Result(
            seed=row["seed"],
            violations=[Violation(**v) for v in row["violations"]],
            trace_hash=row["trace_hash"],
            steps=row["steps"],
            stats=Counter(row["stats"]),
            wall_seconds=row["wall_seconds"],
            requests=row["requests"],
            faults=row["faults"],
            coverage=Counter(row["coverage"]),
        )
        for row in json.loads(path.read_text("utf-8"))
    ]


def _run_jobs(args: argparse.Namespace) -> int:
    """Seeds first, first+1, … shared by `jobs` processes (seed k of the run
    in process k mod jobs), each a shard of this same command; their figures
    summed. The seeds are the same as in one process: a seed's run does not
    depend on the process it runs in."""
    passed: list[str] = []
    for flag in ("faults", "db", "budget", "progress"):
        value = getattr(args, flag)
        if value:
            passed += [f"--{flag}", str(value)]
    if args.verbose:
        passed.append("-v")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bureau-sim-jobs-") as tmp:
        procs: list[tuple[subprocess.Popen[bytes], Path]] = []
        for k in range(min(args.jobs, args.seeds)):
            count = len(range(k, args.seeds, args.jobs))
            out = Path(tmp) / f"shard-{k}.json"
            cmd = [sys.executable, "-m", "bureau_sim", "--seeds", str(count)]
            cmd += ["--first", str(args.first + k * args.stride)]
            cmd += ["--stride", str(args.stride * args.jobs), "--results", str(out), *passed]
            procs.append((subprocess.Popen(cmd), out))
        codes = [p.wait() for p, _ in procs]
        results = sorted((r for _, out in procs for r in _load(out)), key=lambda r: r.seed)
    print(f"== {args.jobs} processes", flush=True)
    if results:
        print(_summary(results, time.perf_counter() - started), flush=True)
    if args.coverage:
        _print_coverage(results)
    return 0 if results and all(r.ok for r in results) and not any(codes) else 1


def _print_coverage(results: list[Result]) -> None:
    total: Counter[str] = Counter()
    for r in results:
        total.update(r.coverage)
    for what, n in sorted(total.items()):
        print(f"  {n:7d}  {what}")


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
        if args.results:
            _dump(results, Path(args.results))
    if results:
        print(_summary(results, time.perf_counter() - started), flush=True)
    if args.coverage:
        _print_coverage(results)
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
    p.add_argument(
        "--jobs", type=int, default=1, help="run the seeds in this many processes (default 1)"
    )
    p.add_argument("--results", help=argparse.SUPPRESS)  # a shard's figures, for --jobs
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
    if args.jobs > 1 and args.seed is None:
        sys.exit(_run_jobs(args))
    sys.exit(asyncio.run(_main(args)))
