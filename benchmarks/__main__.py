"""Run every workload, print one table, write it to benchmarks/RESULTS.md.

    python -m benchmarks            # full sizes; writes RESULTS.md
    python -m benchmarks --quick    # tiny sizes; never writes RESULTS.md
    python -m benchmarks --only http_load --results /tmp/r.md

Each workload runs in its own process so that one cannot slow the next;
a workload that crashes still gets a row saying so.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import attrs

from benchmarks.harness import Row, parse_rows, unavailable
from benchmarks.report import environment, render_markdown, render_table
from benchmarks.workers import ROOT

WORKLOADS = {
    "memory_pipeline": "memory pipeline",
    "redis_pipeline": "redis pipeline",
    "http_load": "http",
    "latency": "latency, light load",
    "memory_rss": "memory (RSS)",
    "scale_out": "scale-out",
}
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def run_workload(module: str, quick: bool, timeout: float) -> list[Row]:
    """Run one workload module in a child process and collect its rows."""
    args = [sys.executable, "-m", f"benchmarks.{module}"] + (
        ["--quick"] if quick else []
    )
    try:
        done = subprocess.run(
            args, cwd=ROOT, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return [unavailable(WORKLOADS[module], "-", f"timed out after {timeout:g}s")]

    rows = parse_rows(done.stdout)
    if rows:
        return rows
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return [unavailable(WORKLOADS[module], "-", f"exit {done.returncode}: {tail}")]


def run_all(modules: list[str], quick: bool, timeout: float) -> list[Row]:
    """Every workload's rows, in order.

    Full runs go one at a time so workloads never share the cores; quick
    runs only prove the workloads still work, so they go all at once.
    """

    def one(module: str) -> list[Row]:
        print(f"running {module} ...", file=sys.stderr, flush=True)
        return run_workload(module, quick, timeout)

    with ThreadPoolExecutor(max_workers=len(modules) if quick else 1) as pool:
        return [row for rows in pool.map(one, modules) for row in rows]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, no file")
    parser.add_argument("--only", nargs="+", choices=sorted(WORKLOADS))
    parser.add_argument(
        "--results", type=Path, help=f"where to write (default {RESULTS})"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    timeout = 120.0 if args.quick else 1800.0

    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    rows = run_all(args.only or list(WORKLOADS), args.quick, timeout)
    seconds = time.perf_counter() - started
    if args.quick:
        # Tiny sizes prove the workloads run; they cannot judge a target.
        rows = [attrs.evolve(row, met=None) for row in rows]

    print(render_table(rows))
    target = args.results or (None if args.quick else RESULTS)
    if target is not None:
        env = environment()
        # Other programs on the machine skew every figure; say how busy it was.
        env["load average (1 min) before / after"] = (
            f"{load_before:.1f} / {os.getloadavg()[0]:.1f}"
        )
        target.write_text(render_markdown(rows, env, seconds, args.quick))
        print(f"\nwritten to {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
