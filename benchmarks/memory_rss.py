"""Memory: RSS growth per queued task, and per finished task kept.

Queued: tasks wait behind a pool of one whose only handler waits on an
event, so none of them run. If submissions stop making progress (the
queue pushes back instead of holding them), the row says after how many.
In Redis mode the queue lives in Redis, so with no worker process running
we report both this process's growth and Redis's `used_memory` growth.
Finished: no-op tasks run to completion; what stays is the memory
storage's cost per task. The baseline is the same runtime, warmed, empty.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis
import trio

from actors.app import open_runtime
from benchmarks import agent
from benchmarks.harness import Row, describe, emit, is_quick, parse_rows, unavailable
from benchmarks.memory_pipeline import submit_all
from benchmarks.procstats import rss_bytes
from benchmarks.redis_server import running_redis
from benchmarks.workers import ROOT
from runtime.settings import Settings

WORKLOAD = "memory (RSS)"
TARGET = "<= 2 KiB"
TARGET_BYTES = 2048
SUBMITTERS = 32


def rss() -> int:
    gc.collect()
    return rss_bytes() or 0


async def queue_until_stalled(rt: Any, count: int) -> int:
    """Submit up to `count` tasks; stop early if none is accepted for a while."""
    accepted = 0
    last = time.monotonic()

    async def caller(share: int) -> None:
        nonlocal accepted, last
        for _ in range(share):
            await rt.run_task("x")
            accepted += 1
            last = time.monotonic()

    async with trio.open_nursery() as nursery:
        for index in range(SUBMITTERS):
            nursery.start_soon(
                caller, count // SUBMITTERS + (index < count % SUBMITTERS)
            )
        while accepted < count:
            await trio.sleep(0.25)
            if time.monotonic() - last > (1.0 if is_quick() else 3.0):
                nursery.cancel_scope.cancel()
                break
    return accepted


async def queued_growth(settings: Settings, count: int) -> tuple[int, int, int]:
    """Empty RSS, RSS growth with tasks queued, and how many were accepted."""
    release = trio.Event()

    async def gated(messages: list[Any]) -> None:
        await release.wait()

    async with open_runtime(
        agent.config, gated, settings=settings, serve_http=False
    ) as rt:
        try:
            empty = rss()
            accepted = await queue_until_stalled(rt, count)
            return empty, rss() - empty, accepted
        finally:
            release.set()


async def finished_growth(count: int) -> int:
    """RSS growth after `count` no-op tasks ran and stay in memory storage."""
    settings = agent.memory_settings()
    async with open_runtime(
        agent.config, agent.noop, settings=settings, serve_http=False
    ) as rt:
        await agent.wait_all_completed(rt, await submit_all(rt, 64), 30)
        empty = rss()
        await agent.wait_all_completed(rt, await submit_all(rt, count), 600)
        return rss() - empty


def queued_row(mode: str, growth: int, accepted: int, count: int) -> Row:
    metric = f"{mode}: per queued task"
    if accepted < count:
        note = f"queue stalled after {accepted:,} of {count:,} tasks"
        return Row(WORKLOAD, metric, None, "bytes", target=TARGET, met=False, note=note)
    per_task = growth / count
    return Row(
        WORKLOAD,
        f"{metric} ({count:,} queued)",
        per_task,
        "bytes",
        target=TARGET,
        met=per_task <= TARGET_BYTES,
    )


def redis_rows(count: int) -> list[Row]:
    """Tasks queued in Redis with no worker process to take them."""
    with running_redis() as server:
        client = redis.Redis.from_url(server.url)
        before = int(client.info("memory")["used_memory"])
        prefix = f"bench-{uuid.uuid4().hex[:8]}"
        settings = agent.redis_settings(server.url, prefix, "api")
        _, growth, accepted = trio.run(queued_growth, settings, count)
        redis_growth = int(client.info("memory")["used_memory"]) - before
        client.close()
    return [
        queued_row("redis, api process", growth, accepted, count),
        Row(
            WORKLOAD,
            "redis: used_memory per queued task",
            redis_growth / count,
            "bytes",
        ),
    ]


def memory_queued_rows(quick: bool) -> list[Row]:
    count = 300 if quick else 100_000
    settings = agent.memory_settings(concurrency=1)
    empty, growth, accepted = trio.run(queued_growth, settings, count)
    return [
        Row(WORKLOAD, "empty runtime RSS (baseline)", empty / 2**20, "MiB"),
        queued_row("memory", growth, accepted, count),
    ]


def memory_finished_rows(quick: bool) -> list[Row]:
    count = 300 if quick else 20_000
    metric = f"memory: per finished task kept ({count:,})"
    per_task = trio.run(finished_growth, count) / count
    return [Row(WORKLOAD, metric, per_task, "bytes")]


def redis_queued_rows(quick: bool) -> list[Row]:
    try:
        return redis_rows(100 if quick else 5_000)
    except Exception as exc:  # noqa: BLE001 - reported as an n/a row
        reason = f"redis mode unavailable: {describe(exc)}"
        return [unavailable(WORKLOAD, "redis: per queued task", reason, TARGET)]


PHASES = {
    "memory-queued": memory_queued_rows,
    "memory-finished": memory_finished_rows,
    "redis-queued": redis_queued_rows,
}


def run_phase(phase: str, quick: bool) -> list[Row]:
    """One phase in a fresh process.

    A heap that grew in an earlier phase is reused by the next one, and
    RSS would not show its growth (it even came out negative).
    """
    args = [sys.executable, "-m", "benchmarks.memory_rss", "--phase", phase]
    done = subprocess.run(
        args + (["--quick"] if quick else []),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    rows = parse_rows(done.stdout)
    if not rows:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        rows = [unavailable(WORKLOAD, phase, f"exit {done.returncode}: {tail}")]
    return rows


def main() -> None:
    quick = is_quick()
    if "--phase" in sys.argv:
        emit(PHASES[sys.argv[sys.argv.index("--phase") + 1]](quick))
        return
    # RSS is per process, so quick mode may overlap the phases to save time.
    with ThreadPoolExecutor(max_workers=len(PHASES) if quick else 1) as pool:
        results = pool.map(lambda phase: run_phase(phase, quick), PHASES)
        emit([row for rows in results for row in rows])


if __name__ == "__main__":
    main()
